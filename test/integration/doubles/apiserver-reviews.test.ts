// Self-test of the apiserver double's SubjectAccessReview, TokenReview and issued ServiceAccount tokens.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiServer } from '../../helpers/apiserver.js';
import type { ApiServerDouble } from '../../helpers/apiserver.js';
import { httpsRequest } from '../../helpers/https-get.js';

function post(api: ApiServerDouble, path: string, body: unknown, token = api.token) {
  return httpsRequest(`${api.url}${path}`, {
    ca: api.caPem, method: 'POST', body: JSON.stringify(body),
    headers: ['Authorization', `Bearer ${token}`, 'Content-Type', 'application/json'],
  });
}

const SAR = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
const TR = '/apis/authentication.k8s.io/v1/tokenreviews';

function sar(user: string, attrs: Record<string, string>, groups = ['system:authenticated']) {
  return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups, resourceAttributes: attrs } };
}

test('SubjectAccessReview: decided by the RBAC table for the subject in the spec, never for the caller', async (t) => {
  const api = await startApiServer({
    rbac: [{ subjects: [{ kind: 'User', name: 'alice' }], rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['users'], resourceNames: ['bob'] }] }],
  });
  t.after(() => api.close());
  const yes = await post(api, SAR, sar('alice', { verb: 'impersonate', resource: 'users', name: 'bob', group: '' }));
  assert.equal(yes.status, 201);
  assert.equal(yes.json<{ status: { allowed: boolean } }>().status.allowed, true);
  const no = await post(api, SAR, sar('alice', { verb: 'impersonate', resource: 'users', name: 'carol', group: '' }));
  assert.deepEqual(no.json<{ status: unknown }>().status, { allowed: false });
  // kubegate's own SA may impersonate anyone, but the question is about alice.
  const other = await post(api, SAR, sar('mallory', { verb: 'impersonate', resource: 'users', name: 'bob', group: '' }));
  assert.deepEqual(other.json<{ status: unknown }>().status, { allowed: false });
  const bad = await post(api, SAR, { spec: { resourceAttributes: { verb: 'get' } } });
  assert.equal(bad.status, 400);
});

test('review rights: without create on subjectaccessreviews/tokenreviews kubegate gets the apiserver\'s 403', async (t) => {
  const api = await startApiServer({ reviewRights: { subjectAccessReviews: false, tokenReviews: false } });
  t.after(() => api.close());
  const r = await post(api, SAR, sar('alice', { verb: 'get', resource: 'pods' }));
  assert.equal(r.status, 403);
  assert.match(r.text, /cannot create resource \\"subjectaccessreviews\\" in API group \\"authorization.k8s.io\\" at the cluster scope/);
  const tr = await post(api, TR, { spec: { token: 'x' } });
  assert.equal(tr.status, 403);
  api.setReviewRights({ tokenReviews: true });
  assert.equal((await post(api, TR, { spec: { token: 'x' } })).status, 201);
});

test('ServiceAccount tokens: work directly, reviewed by TokenReview, refused once revoked, expired or for another audience', async (t) => {
  const api = await startApiServer({
    rbac: [{ namespace: 'ci', subjects: [{ kind: 'User', name: 'system:serviceaccount:ci:deployer' }], rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }] }],
    namespaces: ['default', 'ci'],
  });
  t.after(() => api.close());
  const token = api.issueServiceAccountToken('ci', 'deployer');
  assert.equal(token.split('.').length, 3);
  const direct = await httpsRequest(`${api.url}/api/v1/namespaces/ci/pods`, { ca: api.caPem, headers: ['Authorization', `Bearer ${token}`] });
  assert.equal(direct.status, 200);
  assert.equal(api.requests.at(-1)?.requestor?.user, 'system:serviceaccount:ci:deployer');
  const denied = await httpsRequest(`${api.url}/api/v1/namespaces/default/pods`, { ca: api.caPem, headers: ['Authorization', `Bearer ${token}`] });
  assert.equal(denied.status, 403);

  const review = await post(api, TR, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } });
  const st = review.json<{ status: { authenticated: boolean; user: { username: string; groups: string[] }; audiences: string[] } }>().status;
  assert.equal(st.authenticated, true);
  assert.equal(st.user.username, 'system:serviceaccount:ci:deployer');
  assert.deepEqual(st.user.groups, ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated']);
  const wrongAud = await post(api, TR, { spec: { token, audiences: ['vault'] } });
  assert.equal(wrongAud.json<{ status: { authenticated?: boolean } }>().status.authenticated, undefined);

  const expired = api.issueServiceAccountToken('ci', 'deployer', { expirationSeconds: -10 });
  assert.equal((await post(api, TR, { spec: { token: expired } })).json<{ status: { error: string } }>().status.error, '[invalid bearer token, Token has expired.]');
  api.revokeServiceAccountToken(token);
  assert.equal((await post(api, TR, { spec: { token } })).json<{ status: { authenticated?: boolean } }>().status.authenticated, undefined);
  const gone = await httpsRequest(`${api.url}/api/v1/namespaces/ci/pods`, { ca: api.caPem, headers: ['Authorization', `Bearer ${token}`] });
  assert.equal(gone.status, 401);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import { readFile } from 'node:fs/promises';
import { parseRequestInfo, startApiServer, UNAUTHORIZED } from '../../helpers/apiserver.js';
import type { ApiServerDouble } from '../../helpers/apiserver.js';
import { httpsRequest, httpsStream } from '../../helpers/https-get.js';
import type { HttpsRequestOptions } from '../../helpers/https-get.js';

const UNAUTHORIZED_BODY = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}\n';

function call(api: ApiServerDouble, path: string, headers: string[] = [], o: HttpsRequestOptions = {}) {
  return httpsRequest(`${api.url}${path}`, { ca: api.caPem, headers: ['Authorization', `Bearer ${api.token}`, ...headers], ...o });
}

test('request info: verbs, namespaces and subresources as RequestInfoFactory computes them', () => {
  const cases: Array<[string, string, Partial<ReturnType<typeof parseRequestInfo>>]> = [
    ['GET', '/api/v1/namespaces/ns/pods', { verb: 'list', namespace: 'ns', resource: 'pods', isResourceRequest: true }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=1', { verb: 'watch' }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=false', { verb: 'list' }],
    ['GET', '/api/v1/namespaces/ns/pods?watch=', { verb: 'watch' }],
    ['GET', '/api/v1/watch/namespaces/ns/pods', { verb: 'watch', namespace: 'ns', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/ns/pods?fieldSelector=metadata.name%3Dp', { verb: 'list', name: 'p' }],
    ['GET', '/api/v1/namespaces/ns/pods/p', { verb: 'get', name: 'p' }],
    ['HEAD', '/api/v1/namespaces/ns/pods/p', { verb: 'get' }],
    ['POST', '/api/v1/namespaces/ns/pods', { verb: 'create' }],
    ['PUT', '/api/v1/namespaces/ns/pods/p', { verb: 'update' }],
    ['PATCH', '/api/v1/namespaces/ns/pods/p', { verb: 'patch' }],
    ['DELETE', '/api/v1/namespaces/ns/pods/p', { verb: 'delete' }],
    ['DELETE', '/api/v1/namespaces/ns/pods', { verb: 'deletecollection' }],
    ['POST', '/api/v1/namespaces/ns/pods/p/exec?command=ls', { verb: 'create', subresource: 'exec', name: 'p' }],
    ['GET', '/api/v1/namespaces/ns/pods/p/log', { verb: 'get', subresource: 'log' }],
    ['GET', '/api/v1/namespaces/ns', { verb: 'get', resource: 'namespaces', name: 'ns', namespace: 'ns' }],
    ['PUT', '/api/v1/namespaces/ns/finalize', { verb: 'update', resource: 'namespaces', subresource: 'finalize' }],
    ['GET', '/api/v1/nodes', { verb: 'list', resource: 'nodes', namespace: '' }],
    ['GET', '/apis/apps/v1/namespaces/ns/deployments/d/scale', { apiGroup: 'apps', resource: 'deployments', subresource: 'scale' }],
    ['GET', '/api/v1/namespaces/ns/pods/a%2Fb', { name: 'a', subresource: 'b' }],
    ['GET', '/api/v1', { verb: 'get', isResourceRequest: false }],
    ['GET', '/apis/apps/v1', { isResourceRequest: false }],
    ['POST', '/healthz', { verb: 'post', isResourceRequest: false }],
  ];
  for (const [method, target, want] of cases) {
    const got = parseRequestInfo(method, target);
    for (const [k, v] of Object.entries(want)) assert.deepEqual(got[k as keyof typeof got], v, `${method} ${target}: ${k}`);
  }
});

test('authentication: only one Bearer line with the SA token; exact 401 body otherwise', async (t) => {
  const api = await startApiServer();
  t.after(() => api.close());
  for (const headers of [[], ['Authorization', 'Bearer wrong'], ['Authorization', 'Basic dTpw'], ['Authorization', 'Bearer ']]) {
    const r = await httpsRequest(`${api.url}/version`, { ca: api.caPem, headers });
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.equal(r.text, UNAUTHORIZED_BODY);
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.equal(JSON.stringify(UNAUTHORIZED) + '\n', UNAUTHORIZED_BODY);
  const two = await httpsRequest(`${api.url}/version`, {
    ca: api.caPem, headers: ['Authorization', `Bearer ${api.token}`, 'Authorization', `Bearer ${api.token}`],
  });
  assert.equal(two.status, 401);
  const ok = await call(api, '/version');
  assert.equal(ok.status, 200);
  assert.equal(ok.json<{ gitVersion: string }>().gitVersion, 'v1.31.0');
  const lower = await httpsRequest(`${api.url}/version`, { ca: api.caPem, headers: ['authorization', `bearer ${api.token}`] });
  assert.equal(lower.status, 200);
  assert.deepEqual(api.tokensSeen, ['wrong', api.token, api.token, api.token, api.token]);
  assert.equal(api.requests.length, 7);
  assert.equal(api.requests[0]?.identity, undefined);
  assert.equal(api.requests[5]?.identity?.user, 'system:serviceaccount:kubegate:kubegate');
});

test('setToken rotates the accepted token and rewrites tokenFile', async (t) => {
  const api = await startApiServer({ token: 'first-token' });
  t.after(() => api.close());
  assert.equal(await readFile(api.tokenFile, 'utf8'), 'first-token');
  await api.setToken('second-token');
  assert.equal(await readFile(api.tokenFile, 'utf8'), 'second-token');
  assert.equal((await httpsRequest(`${api.url}/version`, { ca: api.caPem, headers: { Authorization: 'Bearer first-token' } })).status, 401);
  assert.equal((await httpsRequest(`${api.url}/version`, { ca: api.caPem, headers: { Authorization: 'Bearer second-token' } })).status, 200);
  await api.setToken('third-token', { keepOld: true });
  assert.equal((await httpsRequest(`${api.url}/version`, { ca: api.caPem, headers: { Authorization: 'Bearer second-token' } })).status, 200);
});

test('impersonation: one group per line, UTF-8 bytes, system:authenticated added, whoami answers', async (t) => {
  const api = await startApiServer();
  t.after(() => api.close());
  // Node writes header strings as Latin-1: pass the UTF-8 bytes as a binary string, as kubegate must.
  const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  const headers = [
    'Impersonate-User', utf8('jürgen@example.com'),
    'Impersonate-Group', 'dev, ops',
    'Impersonate-Group', utf8('Grüne'),
    'Impersonate-Extra-Acme.com%2Fteam', 'a',
    'Impersonate-Uid', 'u-1',
    'Content-Type', 'application/json',
  ];
  const body = '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}';
  const r = await call(api, '/apis/authentication.k8s.io/v1/selfsubjectreviews', headers, { method: 'POST', body });
  assert.equal(r.status, 201);
  const review = r.json<{ status: { userInfo: Record<string, unknown> } }>();
  assert.deepEqual(review.status.userInfo, {
    username: 'jürgen@example.com', uid: 'u-1', groups: ['dev, ops', 'Grüne', 'system:authenticated'], extra: { 'acme.com/team': ['a'] },
  });
  const rec = api.requests.at(-1);
  assert.equal(rec?.impersonated, true);
  assert.deepEqual(rec?.identity?.groups, ['dev, ops', 'Grüne', 'system:authenticated']);
  assert.equal(rec?.body.toString(), body);
  // v1beta1 answers too (kubectl < 1.28).
  const beta = await call(api, '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews', ['Impersonate-User', 'bob'], { method: 'POST', body: '{}' });
  assert.equal(beta.json<{ apiVersion: string; status: { userInfo: { groups: string[] } } }>().apiVersion, 'authentication.k8s.io/v1beta1');
  assert.deepEqual(beta.json<{ status: { userInfo: { groups: string[] } } }>().status.userInfo.groups, ['system:authenticated']);
});

test('impersonation errors: groups without user (500 like Go), strict duplicate/empty user (400), lenient mode', async (t) => {
  const api = await startApiServer();
  const lenient = await startApiServer({ strictImpersonation: false });
  t.after(async () => { await api.close(); await lenient.close(); });
  const noUser = await call(api, '/api/v1/namespaces/user01/pods', ['Impersonate-Group', 'dev']);
  assert.equal(noUser.status, 500);
  assert.match(noUser.text, /^Internal Server Error: &#34;\/api\/v1\/namespaces\/user01\/pods&#34;: requested \[\{Group  dev .*\}\] without impersonating a user\n$/);
  assert.equal((await call(api, '/version', ['Impersonate-Uid', 'x'])).status, 500);
  assert.equal((await call(api, '/version', ['Impersonate-Extra-a', 'x'])).status, 500);
  const dup = await call(api, '/version', ['Impersonate-User', 'a', 'Impersonate-User', 'b']);
  assert.equal(dup.status, 400);
  assert.match(dup.json<{ message: string }>().message, /exactly one non-empty Impersonate-User/);
  assert.equal((await call(api, '/version', ['Impersonate-User', ''])).status, 400);
  // The real apiserver takes the first line, and an empty user means "no impersonation".
  const first = await call(lenient, '/apis/authentication.k8s.io/v1/selfsubjectreviews', ['Impersonate-User', 'a', 'Impersonate-User', 'b'], { method: 'POST', body: '{}' });
  assert.equal(first.json<{ status: { userInfo: { username: string } } }>().status.userInfo.username, 'a');
  const empty = await call(lenient, '/apis/authentication.k8s.io/v1/selfsubjectreviews', ['Impersonate-User', ''], { method: 'POST', body: '{}' });
  assert.equal(empty.json<{ status: { userInfo: { username: string } } }>().status.userInfo.username, 'system:serviceaccount:kubegate:kubegate');
  // A service-account user gets its fixed groups.
  const sa = await call(api, '/apis/authentication.k8s.io/v1/selfsubjectreviews', ['Impersonate-User', 'system:serviceaccount:ns1:robot'], { method: 'POST', body: '{}' });
  assert.deepEqual(sa.json<{ status: { userInfo: { groups: string[] } } }>().status.userInfo.groups,
    ['system:serviceaccounts', 'system:serviceaccounts:ns1', 'system:authenticated']);
});

test('impersonation itself is authorized: without the right, the service account gets Forbidden', async (t) => {
  const api = await startApiServer({ serviceAccountMayImpersonate: false });
  t.after(() => api.close());
  const r = await call(api, '/api/v1/namespaces/user01/pods', ['Impersonate-User', 'user01@example.com', 'Impersonate-Group', 'dev']);
  assert.equal(r.status, 403);
  assert.equal(r.json<{ message: string }>().message,
    'users "user01@example.com" is forbidden: User "system:serviceaccount:kubegate:kubegate" cannot impersonate resource "users" in API group "" at the cluster scope');
  assert.equal(api.requests[0]?.identity, undefined);
  // A custom authorizer replaces the tutorial role (built-ins stay).
  const none = await startApiServer({ rbac: () => false });
  t.after(() => none.close());
  const denied = await call(none, '/api/v1/namespaces/user01/pods', ['Impersonate-User', 'user01@example.com']);
  assert.equal(denied.json<{ message: string }>().message,
    'pods is forbidden: User "user01@example.com" cannot list resource "pods" in API group "" in the namespace "user01"');
  assert.equal((await call(none, '/api', ['Impersonate-User', 'user01@example.com'])).status, 200);
});

test('RBAC: tutorial role, exact Forbidden bodies, SA alone has no resource access', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const as = ['Impersonate-User', 'user01@example.com'];
  const nodes = await call(api, '/api/v1/nodes', as);
  assert.equal(nodes.status, 403);
  assert.equal(nodes.text, '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes is forbidden: User \\"user01@example.com\\" cannot list resource \\"nodes\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"kind":"nodes"},"code":403}\n');
  const named = await call(api, '/api/v1/namespaces/default/pods/x/exec', as, { method: 'POST' });
  assert.equal(named.json<{ message: string }>().message,
    'pods "x" is forbidden: User "user01@example.com" cannot create resource "pods/exec" in API group "" in the namespace "default"');
  assert.deepEqual(named.json<{ details: unknown }>().details, { name: 'x', kind: 'pods' });
  const path = await call(api, '/logs/', as);
  assert.equal(path.json<{ message: string }>().message, 'forbidden: User "user01@example.com" cannot get path "/logs/"');
  const list = await call(api, '/api/v1/namespaces/user01/pods', as);
  assert.equal(list.status, 200);
  assert.deepEqual(list.json<{ items: Array<{ metadata: { name: string } }> }>().items.map((i) => i.metadata.name), ['p']);
  const saOnly = await call(api, '/api/v1/namespaces/user01/pods');
  assert.equal(saOnly.status, 403);
  assert.match(saOnly.json<{ message: string }>().message, /User "system:serviceaccount:kubegate:kubegate" cannot list/);
  // Role bindings as plain data.
  const custom = await startApiServer({ rbac: [{ subjects: [{ kind: 'Group', name: 'ops' }], rules: [{ verbs: ['list'], apiGroups: [''], resources: ['nodes'] }] }] });
  t.after(() => custom.close());
  assert.equal((await call(custom, '/api/v1/nodes', ['Impersonate-User', 'x', 'Impersonate-Group', 'ops'])).status, 200);
  assert.equal((await call(custom, '/api/v1/nodes', ['Impersonate-User', 'x', 'Impersonate-Group', 'dev'])).status, 403);
});

test('CRUD, Table output and the raw target recorded byte-for-byte', async (t) => {
  const api = await startApiServer();
  t.after(() => api.close());
  const as = ['Impersonate-User', 'user01@example.com'];
  const pod = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', labels: { app: 'w' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  const created = await call(api, '/api/v1/namespaces/user01/pods', [...as, 'Content-Type', 'application/json'], { method: 'POST', body: pod });
  assert.equal(created.status, 201);
  assert.equal(created.json<{ status: { phase: string } }>().status.phase, 'Running');
  assert.equal(api.requests.at(-1)?.body.toString(), pod);
  assert.equal((await call(api, '/api/v1/namespaces/user01/pods', [...as, 'Content-Type', 'application/json'], { method: 'POST', body: pod })).status, 409);
  const table = await call(api, '/api/v1/namespaces/user01/pods', [...as, 'Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json']);
  const tj = table.json<{ kind: string; columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[]; object: { kind: string } }> }>();
  assert.equal(tj.kind, 'Table');
  assert.deepEqual(tj.columnDefinitions.slice(0, 5).map((c) => c.name), ['Name', 'Ready', 'Status', 'Restarts', 'Age']);
  assert.deepEqual(tj.rows[0]?.cells.slice(0, 4), ['web', '1/1', 'Running', '0']);
  assert.equal(tj.rows[0]?.object.kind, 'PartialObjectMetadata');
  const patched = await call(api, '/api/v1/namespaces/user01/pods/web', [...as, 'Content-Type', 'application/merge-patch+json'], { method: 'PATCH', body: '{"metadata":{"labels":{"app":null,"tier":"x"}}}' });
  assert.deepEqual(patched.json<{ metadata: { labels: unknown } }>().metadata.labels, { tier: 'x' });
  assert.equal((await call(api, '/api/v1/namespaces/user01/pods/web', as, { method: 'DELETE' })).status, 200);
  const gone = await call(api, '/api/v1/namespaces/user01/pods/web', as);
  assert.equal(gone.status, 404);
  assert.equal(gone.json<{ message: string }>().message, 'pods "web" not found');
  await call(api, '/', as, { target: '/api/v1/namespaces/user01/pods/a%2Fb/../%2e%2e' });
  assert.equal(api.requests.at(-1)?.url, '/api/v1/namespaces/user01/pods/a%2Fb/../%2e%2e');
  const unknown = await call(api, '/apis/example.com/v1/widgets', ['Impersonate-User', 'x']);
  assert.equal(unknown.status, 403); // RBAC is checked before routing, as in the apiserver
});

test('watch streams events at once; Table watch; logs follow; close() ends open streams', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const headers = ['Authorization', `Bearer ${api.token}`, 'Impersonate-User', 'user01@example.com'];
  const w = await httpsStream(`${api.url}/api/v1/namespaces/user01/pods?watch=true`, { ca: api.caPem, headers });
  assert.equal(w.status, 200);
  await w.waitFor(/"type":"ADDED","object":\{"metadata":\{"name":"p"|"type":"ADDED".*"name":"p"/);
  const started = Date.now();
  api.emitPodEvent('user01', 'MODIFIED', 'p');
  await w.waitFor(/"type":"MODIFIED"/, 1000);
  assert.ok(Date.now() - started < 500, 'events are flushed immediately');
  api.emitPodEvent('other', 'ADDED', 'elsewhere');
  api.emitPodEvent('user01', 'DELETED', 'p');
  await w.waitFor(/"type":"DELETED"/);
  assert.doesNotMatch(w.text(), /elsewhere/);
  const tw = await httpsStream(`${api.url}/api/v1/namespaces/user01/pods?watch=1&resourceVersion=1`, {
    ca: api.caPem, headers: [...headers, 'Accept', 'application/json;as=Table;v=v1;g=meta.k8s.io'],
  });
  api.emitPodEvent('user01', 'ADDED', 'q');
  const line = await tw.waitFor(/\{"type":"ADDED".*\n/);
  assert.equal(JSON.parse(line).object.kind, 'Table');
  api.addPod('user01', 'logger');
  api.writeLog('before');
  const lf = await httpsStream(`${api.url}/api/v1/namespaces/user01/pods/logger/log?follow=true`, { ca: api.caPem, headers });
  await lf.waitFor(/before\n/);
  api.writeLog('after', { namespace: 'user01', name: 'logger' });
  await lf.waitFor(/after\n/);
  assert.equal(api.openWatches, 2);
  const closing = Date.now();
  await api.close();
  await Promise.all([w.ended, tw.ended, lf.ended]);
  assert.ok(Date.now() - closing < 2000);
});

test('overrides: redirect and delay', async (t) => {
  const api = await startApiServer();
  t.after(() => api.close());
  api.redirect('/api/v1/namespaces/redir');
  const r = await call(api, '/api/v1/namespaces/redir/pods');
  assert.equal(r.status, 302);
  assert.equal(r.headers.location, 'https://elsewhere.invalid/');
  api.clearOverrides();
  api.delay(300, '/version');
  const t0 = Date.now();
  assert.equal((await call(api, '/version')).status, 200);
  assert.ok(Date.now() - t0 >= 280);
  const t1 = Date.now();
  await call(api, '/api');
  assert.ok(Date.now() - t1 < 250);
});

test('a refused upgrade leaves the connection parsing HTTP, like Go (CVE-2018-1002105 shape)', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const port = Number(new URL(api.url).port);
  const socket = connect({ host: '127.0.0.1', port, ca: api.caPem, servername: 'localhost' });
  t.after(() => socket.destroy());
  let got = '';
  socket.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  // An exec upgrade the double refuses (no token), with a second request in the same packet.
  socket.write('GET /api/v1/namespaces/user01/pods/p/exec?command=ls HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n'
    + 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n'
    + `GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${api.token}\r\n\r\n`);
  const deadline = Date.now() + 3000;
  while (!/HTTP\/1\.1 403[\s\S]*\r\n\r\n\{.*\}\n$/.test(got) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.match(got, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  assert.match(got, /HTTP\/1\.1 403 Forbidden/);
  assert.equal(api.requests.length, 2);
  assert.equal(api.requests[1]?.url, '/api/v1/nodes');
  assert.equal(api.requests[1]?.connection, api.requests[0]?.connection);
  assert.equal(api.connections, 1);
  assert.equal(api.upgradeRequests, 1);
});

test('connections are counted; reset() clears records', async (t) => {
  const api = await startApiServer();
  t.after(() => api.close());
  await call(api, '/version');
  await call(api, '/version');
  assert.equal(api.connections, 2); // httpsRequest never reuses connections
  assert.equal(api.tcpConnections, 2);
  await assert.rejects(httpsRequest(`${api.url}/version`, {})); // untrusted by default CAs
  assert.equal(api.connections, 2);
  api.reset();
  assert.equal(api.requests.length, 0);
  assert.equal(api.connections, 0);
});

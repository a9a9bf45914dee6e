// kubegate's review client against the apiserver double: real TLS, kubegate's token, and every way a review can fail closed.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { startApiServer } from '../../helpers/apiserver.js'
import { createApiClient } from '../../../src/k8s/api-client.js'
import { reviewAccess } from '../../../src/authz/subject-access-review.js'
import { KubegateError } from '../../../src/errors.js'
import type { UpstreamTarget } from '../../../src/upstream/target.js'

const bob = { verb: 'impersonate', group: '', version: '', resource: 'users', subresource: '', namespace: '', name: 'bob' }
const alice = { user: 'alice', groups: ['system:authenticated'], uid: undefined, extra: undefined }

function target (url: string, ca: string): UpstreamTarget {
  const u = new URL(url)
  return { origin: u.origin, host: u.hostname, port: Number(u.port), ca, servername: undefined, tokenFile: undefined, staticToken: undefined, source: 'flags' }
}

test('review client: asks with kubegate\'s token; allowed and denied answers; fails closed on 403, slowness, redirects and a dead apiserver', async (t) => {
  const api = await startApiServer({
    rbac: [{ subjects: [{ kind: 'User', name: 'alice' }], rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['users'], resourceNames: ['bob'] }] }],
  })
  t.after(() => api.close())
  const t1 = target(api.url, api.caPem)
  const client = createApiClient({ target: () => t1, authorization: () => `Bearer ${api.token}`, timeoutMs: 500 })
  t.after(() => client.close())

  assert.deepEqual(await reviewAccess(client, alice, bob), { allowed: true, reason: 'RBAC: allowed by apiserver double' })
  assert.equal((await reviewAccess(client, alice, { ...bob, name: 'carol' })).allowed, false)
  const rec = api.requests.at(-1)
  assert.equal(rec?.token, api.token)
  assert.equal(rec?.method, 'POST')
  assert.equal(rec?.url, '/apis/authorization.k8s.io/v1/subjectaccessreviews')
  assert.equal(rec?.requestor?.user, 'system:serviceaccount:kubegate:kubegate')

  const code = (want: string, failure: string) => (e: unknown): boolean => e instanceof KubegateError && e.code === want && e.failure === failure

  api.setReviewRights({ subjectAccessReviews: false })
  await assert.rejects(reviewAccess(client, alice, bob), code('KG_ERR_REVIEW_NOT_PERMITTED', 'review_not_permitted'))
  api.setReviewRights({ subjectAccessReviews: true })

  // The double holds the answer far longer than the client waits (500 ms against 4 s).
  api.delay(4000, '/apis/authorization.k8s.io/')
  await assert.rejects(reviewAccess(client, alice, bob), code('KG_ERR_REVIEW_UNAVAILABLE', 'review_timeout'))
  // Bounded: with one review pending, the next fails at once instead of queueing.
  const one = createApiClient({ target: () => t1, authorization: () => `Bearer ${api.token}`, timeoutMs: 500, maxPending: 1 })
  t.after(() => one.close())
  const first = reviewAccess(one, alice, bob)
  await assert.rejects(reviewAccess(one, alice, bob), code('KG_ERR_REVIEW_UNAVAILABLE', 'review_busy'))
  await assert.rejects(first, code('KG_ERR_REVIEW_UNAVAILABLE', 'review_timeout'))
  api.clearOverrides()

  api.redirect('/apis/authorization.k8s.io/')
  await assert.rejects(reviewAccess(client, alice, bob), code('KG_ERR_REVIEW_UNAVAILABLE', 'review_failed'))
  api.clearOverrides()

  const wrongToken = createApiClient({ target: () => t1, authorization: () => 'Bearer nope', timeoutMs: 2000 })
  t.after(() => wrongToken.close())
  await assert.rejects(reviewAccess(wrongToken, alice, bob), code('KG_ERR_REVIEW_NOT_PERMITTED', 'review_not_permitted'))

  await api.close()
  await assert.rejects(reviewAccess(client, alice, bob), code('KG_ERR_REVIEW_UNAVAILABLE', 'review_unreachable'))
})

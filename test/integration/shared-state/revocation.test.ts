/**
 * Revocation across two kubegate replicas sharing one real Redis: made through A, enforced by B within 1 s,
 * and B ends the revoked user's open watch at once. Also the admin API's authentication and authorisation.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { call, openWatch, until } from './http.js'

const ADMIN_GROUP = 'kubegate-admins'
const REV = '/kubegate/v1/revocations'
const PODS = '/api/v1/namespaces/user01/pods'

describe('revocation shared by two replicas', { skip: !hasRedis() }, () => {
  let redis: TestRedis
  let a: Stack
  let b: Stack
  let adminToken: string

  before(async () => {
    redis = await startRedis()
    const config = {
      store: { redisUrl: redis.url, keyPrefix: 'revtest:' },
      admin: { group: ADMIN_GROUP },
      // A small skew so "a token issued after the revocation" needs only a short wait.
      oidc: { clockSkewSeconds: 1 },
      revocation: { resyncSeconds: 5, maxStalenessSeconds: 30 },
      log: { level: 'info' },
    }
    a = await startStack({ config })
    b = await startStack({ config, peers: { issuer: a.issuer, apiserver: a.apiserver } })
    adminToken = await a.issuer.token({ email: 'admin@example.com', sub: 'admin-sub', groups: [ADMIN_GROUP] })
  })
  after(async () => {
    await b?.close()
    await a?.close()
    await redis?.close()
  })

  it('revoking a user on A refuses them on B within 1 s and ends their open watch on B', async () => {
    const user = await a.issuer.token({ email: 'user01@example.com', sub: 'user01-sub', groups: ['students'] })
    const other = await a.issuer.token({ email: 'user02@example.com', sub: 'user02-sub' })
    assert.equal((await call(b.kg.url + PODS, { token: user })).status, 200)
    const watch = openWatch(b.kg.url + PODS + '?watch=true', user)
    const res = await watch.response
    assert.equal(res.statusCode, 200)
    await until(async () => b.kg.sessions.count('stream', 'user01@example.com'), (n) => n === 1, 2000, 'watch registered on B')

    const t0 = performance.now()
    const created = await call(a.kg.url + REV, { method: 'POST', token: adminToken, body: { user: 'user01@example.com', reason: 'left the class' } })
    assert.equal(created.status, 201, created.text)
    const rec = JSON.parse(created.text) as Record<string, unknown>
    assert.equal(rec.kind, 'user')
    assert.equal(rec.value, 'user01@example.com')
    assert.equal(rec.by, 'admin@example.com')
    assert.equal(rec.reason, 'left the class')

    const closedAt = await Promise.race([watch.closed, sleep(1000).then(() => -1)])
    assert.notEqual(closedAt, -1, 'the watch on B was not closed within 1 s')
    const refused = await until(() => call(b.kg.url + PODS, { token: user }), (r) => r.status === 401, 1000, '401 on B')
    assert.ok(performance.now() - t0 < 1000, `B refused within ${Math.round(performance.now() - t0)} ms`)
    const body = JSON.parse(refused.text) as Record<string, unknown>
    assert.equal(body.kind, 'Status')
    assert.equal(body.reason, 'Unauthorized')
    assert.equal(body.code, 401)
    assert.match(body.message as string, /^Unauthorized: the credentials were revoked/)
    // The cached verdict is gone too (a revocation does not rely on admissions alone).
    assert.equal((await call(a.kg.url + PODS, { token: user })).status, 401)
    // Someone else is unaffected, on both replicas.
    assert.equal((await call(b.kg.url + '/api/v1/namespaces/default/pods', { token: other })).status, 403, 'forwarded (RBAC says no)')
    assert.ok(b.logs.some((l) => l.msg === 'revocation applied' && (l.closedSessions as number) === 1))
    watch.stop()

    // A token issued after the revocation (plus skew) is accepted: revocation ends sessions, not accounts.
    const listed = await call(b.kg.url + REV, { token: adminToken })
    assert.equal(listed.status, 200)
    const items = (JSON.parse(listed.text) as { items: Array<Record<string, unknown>> }).items
    assert.deepEqual(items.map((i) => [i.kind, i.value]), [['user', 'user01@example.com']])
    const revokedAt = Date.parse(items[0]?.revokedAt as string)
    await sleep(Math.max(0, revokedAt + 1000 - Date.now()) + 1100)
    const fresh = await a.issuer.token({ email: 'user01@example.com', sub: 'user01-sub' })
    assert.equal((await call(b.kg.url + PODS, { token: fresh })).status, 200)
    assert.equal((await call(b.kg.url + PODS, { token: user })).status, 401, 'the old token stays revoked')

    // Lifting it lets the old token in again, on the other replica.
    const del = await call(b.kg.url + REV + '?user=' + encodeURIComponent('user01@example.com'), { method: 'DELETE', token: adminToken })
    assert.equal(del.status, 200, del.text)
    await until(() => call(a.kg.url + PODS, { token: user }), (r) => r.status === 200, 1000, 'A accepts again')
    const again = await call(b.kg.url + REV + '?user=' + encodeURIComponent('user01@example.com'), { method: 'DELETE', token: adminToken })
    assert.equal(again.status, 404)
  })

  it('revokes one token by its SHA-256 and by sub', async () => {
    const t1 = await a.issuer.token({ email: 'user01@example.com', sub: 's-1', jti: '1' })
    const t2 = await a.issuer.token({ email: 'user01@example.com', sub: 's-1', jti: '2' })
    const tokenHash = createHash('sha256').update(t1).digest('base64url')
    assert.equal((await call(a.kg.url + REV, { method: 'POST', token: adminToken, body: { tokenHash } })).status, 201)
    await until(() => call(b.kg.url + PODS, { token: t1 }), (r) => r.status === 401, 1000, 't1 refused on B')
    assert.equal((await call(b.kg.url + PODS, { token: t2 })).status, 200, 'another token of the same user still works')

    const t3 = await a.issuer.token({ email: 'someone@example.com', sub: 'sub-x' })
    assert.equal((await call(b.kg.url + '/version', { token: t3 })).status, 200)
    assert.equal((await call(a.kg.url + REV, { method: 'POST', token: adminToken, body: { sub: 'sub-x' } })).status, 201)
    await until(() => call(b.kg.url + '/version', { token: t3 }), (r) => r.status === 401, 1000, 'sub refused on B')
    for (const q of [`tokenHash=${tokenHash}`, 'sub=sub-x']) {
      assert.equal((await call(a.kg.url + REV + '?' + q, { method: 'DELETE', token: adminToken })).status, 200)
    }
  })

  it('admin API: 401 without a token, 403 for non-admins, 400 for bad input; never forwarded', async () => {
    const before = a.apiserver.requests.length
    const user = await a.issuer.token({ email: 'user02@example.com', groups: ['students'] })
    const none = await call(a.kg.url + REV, { method: 'POST', body: { user: 'x' } })
    assert.equal(none.status, 401)
    assert.equal((JSON.parse(none.text) as { kind: string }).kind, 'Status')
    const bad = await call(a.kg.url + REV, { token: 'not-a-jwt' })
    assert.equal(bad.status, 401)
    for (const method of ['GET', 'POST', 'DELETE']) {
      const r = await call(a.kg.url + REV + (method === 'DELETE' ? '?user=x' : ''), { method, token: user, body: method === 'POST' ? { user: 'user01@example.com' } : undefined })
      assert.equal(r.status, 403, method)
      assert.equal((JSON.parse(r.text) as { reason: string }).reason, 'Forbidden')
    }
    assert.deepEqual(a.kg.sharedState.revocations.list(), [], 'nothing was revoked by a non-admin')
    for (const body of [{}, { user: '' }, { user: 'a', sub: 'b' }, { tokenHash: 'short' }, { user: 'a\nb' }, { user: 'a', extra: 1 }]) {
      const r = await call(a.kg.url + REV, { method: 'POST', token: adminToken, body })
      assert.equal(r.status, 400, JSON.stringify(body))
    }
    assert.equal((await call(a.kg.url + REV, { method: 'PUT', token: adminToken })).status, 405)
    assert.equal((await call(a.kg.url + REV + 'x', { token: adminToken })).status, 404)
    assert.equal((await call(a.kg.url + REV + '?access_token=abc', { token: adminToken })).status, 400)
    assert.equal(a.apiserver.requests.length, before, 'no admin request reached the apiserver')
  })

  it('a revoked admin cannot use the admin API', async () => {
    const admin2 = await a.issuer.token({ email: 'admin2@example.com', groups: [ADMIN_GROUP] })
    assert.equal((await call(a.kg.url + REV, { token: admin2 })).status, 200)
    assert.equal((await call(a.kg.url + REV, { method: 'POST', token: adminToken, body: { user: 'admin2@example.com' } })).status, 201)
    await until(() => call(b.kg.url + REV, { token: admin2 }), (r) => r.status === 401, 1000, 'revoked admin refused')
    assert.equal((await call(a.kg.url + REV + '?user=admin2%40example.com', { method: 'DELETE', token: adminToken })).status, 200)
  })
})

describe('admin API off by default', () => {
  let s: Stack
  before(async () => { s = await startStack({ config: { log: { level: 'warn' } } }) })
  after(async () => { await s?.close() })

  it('answers 404 for everyone, never forwarding', async () => {
    const admin = await s.issuer.token({ groups: [ADMIN_GROUP] })
    for (const token of [undefined, admin]) {
      const r = await call(s.kg.url + REV, { token })
      assert.equal(r.status, 404)
      assert.equal((JSON.parse(r.text) as { reason: string }).reason, 'NotFound')
    }
    assert.equal(s.apiserver.requests.filter((r) => r.url.startsWith('/kubegate')).length, 0)
    // The memory store: revocation works on a single replica without Redis.
    const token = await s.issuer.token({ email: 'user01@example.com' })
    assert.equal((await call(s.kg.url + PODS, { token })).status, 200)
    await s.kg.sharedState.revocations.add({ kind: 'user', value: 'user01@example.com', by: 'test' })
    assert.equal((await call(s.kg.url + PODS, { token })).status, 401)
  })
})

describe('signing in again after a revocation (clock skew 60 s, kubegate\'s clock injected)', () => {
  let s: Stack
  /** Added to the real clock: how far kubegate's clock has been moved ahead. */
  let ahead = 0
  before(async () => {
    s = await startStack({
      config: { admin: { group: ADMIN_GROUP }, oidc: { clockSkewSeconds: 60 }, log: { level: 'warn' } },
      start: { now: () => Date.now() + ahead },
    })
  })
  after(async () => { await s?.close() })

  it('refuses a token issued within the skew after the revocation, accepts one issued after revokedAt + skew', async () => {
    const admin = await s.issuer.token({ email: 'admin@example.com', groups: [ADMIN_GROUP] })
    const made = await call(s.kg.url + REV, { method: 'POST', token: admin, body: { user: 'back@example.com' } })
    assert.equal(made.status, 201, made.text)
    const rec = JSON.parse(made.text) as { revokedAt: string, acceptsTokensIssuedAfter: string }
    const revokedAt = Date.parse(rec.revokedAt)
    const acceptedAfter = Date.parse(rec.acceptsTokensIssuedAfter)
    assert.equal(acceptedAfter - revokedAt, 60_000, 'the revocation time plus the skew, as the CLI prints it')
    const issuedAt = async (iatSec: number): Promise<number> => {
      const token = await s.issuer.token({ email: 'back@example.com', iat: iatSec, exp: iatSec + 3600 })
      const r = await call(s.kg.url + '/version', { token })
      if (r.status === 401) assert.match(r.text, /the credentials were revoked/)
      return r.status
    }
    const revokedSec = Math.floor(revokedAt / 1000)
    assert.equal(await issuedAt(revokedSec + 1), 401, 'signed in again 1 s after the revocation: refused')

    // Move kubegate's clock past revokedAt + skew (the issuer's token must not look issued in the future),
    // and confirm the list at that time as a periodic resync would.
    ahead = acceptedAfter + 5_000 - Date.now()
    assert.equal(await s.kg.sharedState.revocations.resync(), true)
    const lastRefused = Math.floor(acceptedAfter / 1000)
    assert.equal(await issuedAt(lastRefused), 401, 'issued at revokedAt + skew (to the second): still refused')
    assert.equal(await issuedAt(lastRefused + 1), 200, 'issued after revokedAt + skew: accepted')
  })
})

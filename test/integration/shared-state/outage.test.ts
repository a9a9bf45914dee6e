/**
 * Redis killed mid-test: requests keep being answered without waiting on it, readiness shows the degraded
 * state, the revocation list fails closed once it has been unconfirmed for too long, and everything recovers
 * (including the revocations the empty restarted Redis forgot) when Redis is back.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { call, until } from './http.js'

const PODS = '/api/v1/namespaces/user01/pods'
const REV = '/kubegate/v1/revocations'

describe('Redis outage', { skip: !hasRedis() }, () => {
  let redis: TestRedis
  let a: Stack
  let b: Stack | undefined
  const config = (url: string): Record<string, unknown> => ({
    store: { redisUrl: url, timeoutMilliseconds: 1000 },
    revocation: { resyncSeconds: 1, maxStalenessSeconds: 3 },
    rateLimit: { requestsPerSecond: 50, burst: 100 },
    admin: { group: 'admins' },
    log: { level: 'warn' },
  })

  before(async () => {
    redis = await startRedis()
    a = await startStack({ config: config(redis.url) })
  })
  after(async () => {
    await b?.close()
    await a?.close()
    await redis?.close()
  })

  it('serves from last-known state, then fails closed, then recovers', async () => {
    const user = await a.issuer.token({ email: 'user01@example.com' })
    const revoked = await a.issuer.token({ email: 'gone@example.com' })
    const admin = await a.issuer.token({ email: 'root@example.com', groups: ['admins'] })
    assert.equal((await call(a.kg.url + REV, { method: 'POST', token: admin, body: { user: 'gone@example.com' } })).status, 201)
    assert.equal((await call(a.kg.url + '/readyz?verbose')).status, 200)
    for (const t of [user, revoked]) await call(a.kg.url + PODS, { token: t }) // verified once, then cached

    // A stalled Redis (socket open, no answers): commands would wait the whole timeout; requests must not.
    // Answered from the lease, then from the local share, which starts from what is leased, not from a fresh
    // burst (docs/design.md, "Shared rate limit: leases"): on a loaded machine a request can land between the
    // two and see 429. What this loop holds is that every answer is a decision made without waiting on Redis.
    redis.pause()
    try {
      for (let i = 0; i < 20; i++) {
        const r = await call(a.kg.url + PODS, { token: user })
        assert.ok(r.status === 200 || r.status === 429, `status ${r.status}`)
        assert.ok(r.ms < 500, `answered in ${r.ms.toFixed(1)} ms while Redis is stalled (timeout 1000 ms)`)
        await sleep(50)
      }
      await until(() => call(a.kg.url + '/readyz?verbose'), (r) => r.headers['x-kubegate-degraded'] === 'shared-state', 4000, 'stall seen as degraded')
    } finally {
      redis.resume()
    }
    await until(async () => a.kg.sharedState.store.state, (s) => s === 'up', 4000, 'store up after the stall')

    await redis.kill()
    await until(async () => a.kg.sharedState.store.state, (s) => s === 'down', 3000, 'store down')
    const killedAt = Date.now()

    // Answered, each well within the Redis timeout: nothing on the request path waits for Redis. Admitted on
    // what the replica still holds leased, then on its share, which refills from the moment Redis was lost
    // (never a fresh burst: docs/design.md, "Shared rate limit: leases"), so a quick series may see 429.
    for (let i = 0; i < 10; i++) {
      const r = await call(a.kg.url + PODS, { token: user })
      assert.ok(r.status === 200 || r.status === 429, `status ${r.status}`)
      assert.ok(r.ms < 500, `answered in ${r.ms.toFixed(1)} ms`)
    }
    assert.equal((await call(a.kg.url + PODS, { token: revoked })).status, 401, 'the last-known list still applies')
    const ready = await call(a.kg.url + '/readyz?verbose')
    assert.equal(ready.status, 200, ready.text)
    assert.match(ready.text, /\[!\]shared-state degraded: redis store unreachable/)
    assert.equal(ready.headers['x-kubegate-degraded'], 'shared-state')
    const st = a.kg.sharedState.status()
    assert.equal(st.rateLimit.mode, 'local-share')
    assert.ok(st.degraded !== undefined)
    // Changing the list needs the store: 503, fast.
    const post = await call(a.kg.url + REV, { method: 'POST', token: admin, body: { user: 'x@example.com' } })
    assert.equal(post.status, 503)
    assert.ok(post.ms < 500)

    // Unconfirmed beyond maxStalenessSeconds: fail closed.
    const stale = await until(() => call(a.kg.url + PODS, { token: user }), (r) => r.status === 503, 6000, 'fail closed')
    assert.ok(Date.now() - killedAt >= 1500, 'not before the bound (the list was confirmed up to ~1 s before the kill)')
    assert.equal(stale.status, 503)
    assert.equal(stale.headers['retry-after'], '5')
    assert.equal((JSON.parse(stale.text) as { reason: string }).reason, 'ServiceUnavailable')
    const notReady = await call(a.kg.url + '/readyz?verbose')
    assert.equal(notReady.status, 503)
    assert.match(notReady.text, /\[-\]shared-state failed: revocation list not confirmed/)
    assert.equal((await call(a.kg.url + '/healthz')).status, 200, 'alive, only not ready')

    await redis.restart()
    await until(() => call(a.kg.url + '/readyz?verbose'), (r) => r.status === 200 && r.headers['x-kubegate-degraded'] === undefined, 8000, 'ready again')
    // What the user was admitted on the share during the outage (this test polled it) is charged to the
    // restarted Redis, whose bucket for the user starts full: admitted again once that debt is repaid, within
    // (burst + 1) / rate = ~2 s.
    await until(() => call(a.kg.url + PODS, { token: user }), (r) => r.status === 200, 5000, 'admitted again')
    assert.equal((await call(a.kg.url + PODS, { token: revoked })).status, 401)
    await until(async () => a.kg.sharedState.rateLimiter.status(), (st) => st.mode === 'shared' && st.uncharged === 0, 3000, 'shared rate limits, the share charged back')

    // The restarted Redis came back empty; the replica wrote back what it knew, so a new replica sees it.
    b = await startStack({ config: config(redis.url), peers: { issuer: a.issuer, apiserver: a.apiserver } })
    assert.equal((await call(b.kg.url + PODS, { token: revoked })).status, 401)
    assert.equal((await call(b.kg.url + PODS, { token: user })).status, 200)
    await sleep(10)
  })
})

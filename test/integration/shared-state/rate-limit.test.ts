/**
 * Per-user rate limits: 429 Status with Retry-After, other users and exempt groups unaffected, the budget
 * shared by two replicas through a real Redis, and the cap on concurrent long-running requests.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { call, openWatch, until } from './http.js'

const PODS = '/api/v1/namespaces/user01/pods'

async function burst (url: string, token: string, n: number): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await call(url, { token })).status)
  return out
}

describe('rate limits on one replica', () => {
  let s: Stack
  before(async () => {
    s = await startStack({ config: { rateLimit: { requestsPerSecond: 1, burst: 5, exemptGroups: ['instructors'], maxLongRunning: 2 }, log: { level: 'warn' } } })
  })
  after(async () => { await s?.close() })

  it('answers a burst over the limit with 429, Retry-After and a Status body; others unaffected', async () => {
    const user = await s.issuer.token({ email: 'user01@example.com' })
    const statuses = await burst(s.kg.url + PODS, user, 5)
    assert.deepEqual(statuses, [200, 200, 200, 200, 200])
    const before = s.apiserver.requests.length
    const limited = await call(s.kg.url + PODS, { token: user })
    assert.equal(limited.status, 429)
    const retry = Number(limited.headers['retry-after'])
    assert.ok(retry >= 1 && retry <= 2, `Retry-After ${limited.headers['retry-after']}`)
    const body = JSON.parse(limited.text) as Record<string, unknown>
    assert.equal(body.kind, 'Status')
    assert.equal(body.reason, 'TooManyRequests')
    assert.equal(body.code, 429)
    assert.equal(s.apiserver.requests.length, before, 'a limited request never reaches the apiserver')

    const other = await s.issuer.token({ email: 'user02@example.com' })
    assert.deepEqual(await burst(s.kg.url + '/version', other, 5), [200, 200, 200, 200, 200])
    const instructor = await s.issuer.token({ email: 'teacher@example.com', groups: ['staff', 'instructors'] })
    const many = await burst(s.kg.url + '/version', instructor, 30)
    assert.ok(many.every((c) => c === 200), 'an exempt group is never limited')

    // The bucket refills at the configured rate.
    await sleep(retry * 1000 + 50)
    assert.equal((await call(s.kg.url + PODS, { token: user })).status, 200)
  })

  it('caps concurrent long-running requests per user', async () => {
    const user = await s.issuer.token({ email: 'user01@example.com', groups: ['instructors-not'] })
    await sleep(5200) // bucket full again
    const w1 = openWatch(s.kg.url + PODS + '?watch=true', user)
    const w2 = openWatch(s.kg.url + PODS + '?watch=true', user)
    assert.equal((await w1.response).statusCode, 200)
    assert.equal((await w2.response).statusCode, 200)
    await until(async () => s.kg.sessions.count('stream', 'user01@example.com'), (n) => n === 2, 2000, 'two watches')
    const third = await call(s.kg.url + PODS + '?watch=true', { token: user })
    assert.equal(third.status, 429)
    assert.match(third.text, /too many concurrent long-running requests/)
    assert.equal((await call(s.kg.url + PODS, { token: user })).status, 200, 'plain requests are not capped by it')
    w1.stop()
    await until(async () => s.kg.sessions.count('stream', 'user01@example.com'), (n) => n === 1, 2000, 'one watch left')
    const w3 = openWatch(s.kg.url + PODS + '?watch=true', user)
    assert.equal((await w3.response).statusCode, 200)
    w2.stop()
    w3.stop()
  })
})

describe('rate limits shared by two replicas through Redis', { skip: !hasRedis() }, () => {
  let redis: TestRedis
  let a: Stack
  let b: Stack
  before(async () => {
    redis = await startRedis()
    const config = { store: { redisUrl: redis.url }, rateLimit: { requestsPerSecond: 1, burst: 6, syncMilliseconds: 50 }, log: { level: 'warn' } }
    a = await startStack({ config })
    b = await startStack({ config, peers: { issuer: a.issuer, apiserver: a.apiserver } })
  })
  after(async () => {
    await b?.close()
    await a?.close()
    await redis?.close()
  })

  it('a user who spent the budget on A is limited on B', async () => {
    await until(async () => b.kg.sharedState.rateLimiter.status().replicas, (n) => n === 2, 6000, 'two replicas seen')
    const user = await a.issuer.token({ email: 'user01@example.com' })
    const onA = await burst(a.kg.url + PODS, user, 8)
    assert.deepEqual(onA.filter((c) => c === 200).length, 6)
    assert.deepEqual(onA.slice(6), [429, 429])
    await sleep(200) // a few sync rounds
    const onB = await burst(b.kg.url + PODS, user, 6)
    const admittedOnB = onB.filter((c) => c === 200).length
    // Unshared, B would admit all 6. Shared, it admits at most what refilled (~1) plus its first request,
    // which it may admit before its first sync.
    assert.ok(admittedOnB <= 2, `B admitted ${admittedOnB}: ${onB.join(',')}`)
    assert.equal(onB.at(-1), 429)
    assert.equal(a.kg.sharedState.rateLimiter.status().mode, 'shared')

    const other = await a.issuer.token({ email: 'user02@example.com' })
    assert.deepEqual(await burst(b.kg.url + '/version', other, 6), [200, 200, 200, 200, 200, 200])
  })
})

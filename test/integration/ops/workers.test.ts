/**
 * `kubegate serve` with server.workers: 2, as the real CLI in a child process: a revocation made through one
 * worker reaches both, the rate limit is one bucket per user across them, one scrape of the primary's metrics
 * listener sums both workers' counters, a worker that dies is replaced, SIGHUP to the primary reloads both,
 * SIGTERM stops both gracefully, and stdout stays whole lines.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { startApiServer, type ApiServerDouble } from '../../helpers/apiserver.js'
import { startChildKubegate, type ChildKubegate } from '../../helpers/child-kubegate.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'
import { getTestPki } from '../../helpers/pki.js'
import { get, until } from '../../helpers/poll.js'
import { parseExposition, type Exposition } from '../../helpers/prom-text.js'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { testConfigTree } from '../../helpers/stack.js'
import { call } from '../shared-state/http.js'

const ADMIN_GROUP = 'kubegate-admins'
const BURST = 40
const PODS = (ns: string): string => `/api/v1/namespaces/${ns}/pods`

describe('server.workers: 2 keeps the guarantees of one process', () => {
  let issuer: TestIssuer
  let apiserver: ApiServerDouble
  let kg: ChildKubegate
  const scrape = async (): Promise<Exposition> => parseExposition((await get(kg.metricsUrl + '/metrics')).text)

  before(async () => {
    const pki = await getTestPki()
    issuer = await startTestIssuer({ pki })
    apiserver = await startApiServer({ pki })
    const tree = testConfigTree(issuer, apiserver) as Record<string, any>
    tree.server = { workers: 2 }
    tree.log = { level: 'info' }
    tree.admin = { group: ADMIN_GROUP }
    tree.rateLimit = { requestsPerSecond: 1, burst: BURST, exemptGroups: [ADMIN_GROUP] }
    tree.shutdown = { delaySeconds: 0, gracePeriodSeconds: 5 }
    kg = await startChildKubegate(tree)
    await until('both workers ready', async () => (await get(kg.metricsUrl + '/readyz?verbose')).status === 200, 30_000)
  })
  after(async () => {
    kg?.kill()
    await apiserver?.close()
    await issuer?.close()
  })

  it('serves one scrape for every process, process metrics labelled by worker', async () => {
    const m = await scrape()
    assert.equal(m.value('kubegate_workers'), 2)
    assert.equal(m.value('kubegate_workers_scraped'), 2)
    for (const worker of ['0', '1', 'primary']) assert.equal(m.find('process_cpu_user_seconds_total', { worker }).length, 1, `worker ${worker}`)
    assert.equal(m.value('kubegate_ready'), 1)
    const verbose = await get(kg.metricsUrl + '/readyz?verbose')
    assert.match(verbose.text, /^\[\+\]worker 0: shared-state ok$/m)
    assert.match(verbose.text, /^\[\+\]worker 1: shared-state ok$/m)
  })

  it('sums both workers\' request counters in that scrape', async () => {
    const token = await issuer.token({ email: 'user02@example.com', groups: ['students'] })
    const before = (await scrape()).value('kubegate_requests_total')
    // A fresh connection each: the primary hands connections to the workers round-robin.
    for (let i = 0; i < 10; i++) assert.notEqual((await call(kg.url + PODS('user02'), { token })).status, 401)
    await until('all 10 counted', async () => (await scrape()).value('kubegate_requests_total') - before === 10)
    assert.equal((await scrape()).value('kubegate_requests_total') - before, 10)
  })

  it('keeps one rate-limit bucket per user across the workers', async () => {
    const token = await issuer.token({ email: 'user03@example.com', groups: ['students'] })
    const t0 = Date.now()
    const codes: number[] = []
    for (let round = 0; round < 12; round++) {
      const batch = await Promise.all(Array.from({ length: 10 }, async () => (await call(kg.url + PODS('user03'), { token })).status))
      codes.push(...batch)
    }
    const seconds = Math.ceil((Date.now() - t0) / 1000)
    // Admitted: forwarded (the apiserver double's RBAC answers 403 in this namespace); refused: 429.
    const admitted = codes.filter((c) => c !== 429).length
    assert.ok(codes.every((c) => c === 403 || c === 429), `only 403 and 429: ${codes.join(',')}`)
    // The lease protocol's bound (docs/design.md): burst + rate × t + per worker (lease 2 + credit 1).
    // Two islands would each admit the whole burst: 2 × 40.
    assert.ok(admitted <= BURST + seconds + 2 * 3, `admitted ${admitted} of 120 in ${seconds} s`)
    assert.ok(codes.includes(429))
  })

  it('refuses a revoked user in every worker', async () => {
    const user = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
    const admin = await issuer.token({ email: 'admin@example.com', groups: [ADMIN_GROUP] })
    for (let i = 0; i < 4; i++) assert.equal((await call(kg.url + PODS('user01'), { token: user })).status, 200)
    const created = await call(kg.url + '/kubegate/v1/revocations', { method: 'POST', token: admin, body: { user: 'user01@example.com', reason: 'left the class' } })
    assert.equal(created.status, 201, created.text)
    const sixRefused = async (): Promise<boolean> => {
      const codes = await Promise.all(Array.from({ length: 6 }, async () => (await call(kg.url + PODS('user01'), { token: user })).status))
      return codes.every((c) => c === 401)
    }
    await until('every worker refuses the revoked user', sixRefused)
    for (let i = 0; i < 6; i++) assert.equal((await call(kg.url + PODS('user01'), { token: user })).status, 401)
    const listed = JSON.parse((await call(kg.url + '/kubegate/v1/revocations', { token: admin })).text) as { items: Array<{ value: string }> }
    assert.deepEqual(listed.items.map((i) => i.value), ['user01@example.com'])
  })

  it('replaces a worker that dies; the new one refuses the revoked user too', async () => {
    const started = kg.lines.filter((l) => l.msg === 'worker started' && l.slot === 0)
    const pid = started[started.length - 1]!.pid as number
    process.kill(pid, 'SIGKILL')
    await kg.waitFor((l) => l.msg === 'worker exited; replacing it' && l.pid === pid)
    await kg.waitFor((l) => l.msg === 'worker started' && l.slot === 0 && l.pid !== pid)
    await until('both workers ready again', async () => {
      const r = await get(kg.metricsUrl + '/readyz?verbose')
      return r.status === 200 && r.text.includes('[+]worker 0: shared-state ok') && r.text.includes('[+]worker 1: shared-state ok')
    }, 30_000)
    const user = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
    for (let i = 0; i < 6; i++) assert.equal((await call(kg.url + PODS('user01'), { token: user })).status, 401)
  })

  it('forwards SIGHUP to every worker, and writes whole log lines only', async () => {
    const reloaded = (): number => kg.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('configuration reloaded')).length
    const before = reloaded()
    kg.child.kill('SIGHUP')
    await kg.waitFor((l) => l.msg === 'SIGHUP forwarded to the workers' && l.workers === 2)
    await until('both workers reloaded', () => reloaded() === before + 2)
    assert.deepEqual(kg.lines.filter((l) => 'unparsed' in l), [])
  })

  it('stops every worker gracefully on SIGTERM and exits 0', async () => {
    kg.child.kill('SIGTERM')
    assert.equal(await kg.exited, 0)
    // Two workers, and the replacement of the one killed above (which died without shutting down).
    assert.equal(kg.lines.filter((l) => l.msg === 'shutdown complete').length, 2)
  })
})

describe('server.workers: 2 with Redis: the workers use Redis directly', { skip: !hasRedis() }, () => {
  let issuer: TestIssuer
  let apiserver: ApiServerDouble
  let redis: TestRedis
  let kg: ChildKubegate

  before(async () => {
    const pki = await getTestPki()
    issuer = await startTestIssuer({ pki })
    apiserver = await startApiServer({ pki })
    redis = await startRedis()
    const tree = testConfigTree(issuer, apiserver) as Record<string, any>
    tree.server = { workers: 2 }
    tree.log = { level: 'info' }
    tree.admin = { group: ADMIN_GROUP }
    tree.store = { redisUrl: redis.url, keyPrefix: 'workers:' }
    kg = await startChildKubegate(tree)
    await until('both workers ready', async () => (await get(kg.metricsUrl + '/readyz')).status === 200, 30_000)
  })
  after(async () => {
    kg?.kill()
    await redis?.close()
    await apiserver?.close()
    await issuer?.close()
  })

  it('says so, and a revocation through one worker is refused by both', async () => {
    assert.ok(kg.lines.some((l) => l.msg === 'primary serving metrics for its workers' && l.store === 'redis'))
    const m = parseExposition((await get(kg.metricsUrl + '/metrics')).text)
    assert.equal(m.value('kubegate_store_state', { state: 'connected' }), 1)
    const user = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
    const admin = await issuer.token({ email: 'admin@example.com', groups: [ADMIN_GROUP] })
    for (let i = 0; i < 4; i++) assert.equal((await call(kg.url + PODS('user01'), { token: user })).status, 200)
    const created = await call(kg.url + '/kubegate/v1/revocations', { method: 'POST', token: admin, body: { user: 'user01@example.com' } })
    assert.equal(created.status, 201, created.text)
    await until('every worker refuses the revoked user', async () => {
      const codes = await Promise.all(Array.from({ length: 6 }, async () => (await call(kg.url + PODS('user01'), { token: user })).status))
      return codes.every((c) => c === 401)
    })
    kg.child.kill('SIGTERM')
    assert.equal(await kg.exited, 0)
  })
})

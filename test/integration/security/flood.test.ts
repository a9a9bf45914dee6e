/**
 * Forged-token floods end to end (docs/security.md invariant 9): the per-address failed-authentication budget
 * on both paths, with a frozen clock so every count is exact, and the verifier answering a burst of 500
 * concurrent forged tokens in full.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { b64url, signingInput } from '../../helpers/forge.js'
import { httpsRequest, type HttpsResult } from '../../helpers/https-get.js'
import { parseExposition } from '../../helpers/prom-text.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { until } from '../../helpers/poll.js'
import { EXEC_PATH, header, NS, rawConnect, USER, wsRequest, startUpgradeStack } from '../upgrade/helpers.js'

const FLOODER = '198.51.100.7'
const NEIGHBOUR = '203.0.113.9'
const BURST = 20

/** A token with the issuer's real kid and header, distinct claims and a random signature. */
function forged (s: Stack): string {
  const claims = s.issuer.claims({ jti: randomBytes(8).toString('hex') })
  return `${signingInput({ alg: 'RS256', kid: s.issuer.currentKid, typ: 'JWT' }, claims)}.${b64url(randomBytes(256))}`
}

function pods (s: Stack, token: string, from: string): Promise<HttpsResult> {
  const path = `/api/v1/namespaces/${NS}/pods`
  return httpsRequest(s.kg.url + path, { headers: ['Authorization', `Bearer ${token}`, 'X-Forwarded-For', from], ca: s.caPem, target: path })
}

async function scrape (s: Stack): Promise<ReturnType<typeof parseExposition>> {
  const res = await fetch(s.kg.metricsServer.url + '/metrics')
  return parseExposition(await res.text())
}

describe('failed-authentication budget per client address', () => {
  let s: Stack
  // Frozen for the budget's arithmetic (and everything else in this kubegate); a test moves it forward by
  // hand. Tokens are minted on the real clock: the skew allowance covers the difference.
  let clock = Date.now()
  let valid: string

  before(async () => {
    s = await startUpgradeStack({
      config: {
        oidc: { clockSkewSeconds: 300 },
        // The tarpit has its own test below; here answers go out at once so the counts are checked quickly.
        server: { trustedProxies: ['127.0.0.1/32'], failedAuthPerAddress: { ratePerSecond: 1, burst: BURST, tarpitSeconds: 0 } },
        admin: { group: 'kubegate-admins' },
      },
      start: { now: () => clock },
    })
    valid = await s.issuer.token({ email: USER })
    assert.equal((await pods(s, valid, FLOODER)).status, 200) // verified once: from now on the cache answers it
  })
  after(async () => { await s.close() })

  it('a flood from one address gets 429 after the burst while a valid cached user from the same address gets 200; zero forged requests upstream', async () => {
    const upstreamBefore = s.apiserver.requests.length
    const flood = Array.from({ length: 3 * BURST }, () => forged(s))
    const [floodAnswers, validAnswers] = await Promise.all([
      Promise.all(flood.map((t) => pods(s, t, FLOODER))),
      Promise.all(Array.from({ length: 20 }, () => pods(s, valid, FLOODER))),
    ])
    assert.deepEqual(validAnswers.map((r) => r.status), validAnswers.map(() => 200))
    const statuses = floodAnswers.map((r) => r.status)
    // Verifications still running count against the budget, so exactly the burst was verified, however the
    // requests interleaved; the rest were answered before any signature check.
    assert.equal(statuses.filter((c) => c === 401).length, BURST, statuses.join(','))
    assert.equal(statuses.filter((c) => c === 429).length, 2 * BURST, statuses.join(','))
    const limited = floodAnswers.find((r) => r.status === 429) as HttpsResult
    assert.deepEqual(limited.json(), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too many requests, please retry later', reason: 'TooManyRequests', code: 429 })
    assert.ok(Number(limited.headers['retry-after']) >= 1, String(limited.headers['retry-after']))
    assert.equal(s.apiserver.requests.length - upstreamBefore, validAnswers.length, 'only the valid requests reached the apiserver')
    const m = await scrape(s)
    assert.equal(m.value('kubegate_authentication_total', { result: 'auth_failures_limited' }), 2 * BURST)
    assert.equal(m.value('kubegate_failed_auth_budget_exhausted_total'), 1)
  })

  it('another client address behind the same trusted proxy keeps its own budget', async () => {
    assert.equal((await pods(s, forged(s), FLOODER)).status, 429)
    assert.equal((await pods(s, forged(s), NEIGHBOUR)).status, 401)
  })

  it('a valid token the cache does not hold yet waits like any unknown token: 429 over budget, verified once a failure is earned back', async () => {
    const fresh = await s.issuer.token({ email: USER, sub: 'fresh-login' })
    assert.equal((await pods(s, fresh, FLOODER)).status, 429)
    clock += 1000 // one failure earned back at 1/s
    assert.equal((await pods(s, fresh, FLOODER)).status, 200)
    // Its success cost nothing, and it is cached now: answered even once the address is over budget again.
    assert.equal((await pods(s, forged(s), FLOODER)).status, 401)
    assert.equal((await pods(s, forged(s), FLOODER)).status, 429)
    assert.equal((await pods(s, fresh, FLOODER)).status, 200)
  })

  it('the admin API authenticates through the same budget: over budget a forged token gets 429, the cached (non-admin) token 403', async () => {
    assert.equal((await pods(s, forged(s), FLOODER)).status, 429)
    const admin = (token: string): Promise<HttpsResult> => httpsRequest(s.kg.url + '/kubegate/v1/revocations',
      { headers: ['Authorization', `Bearer ${token}`, 'X-Forwarded-For', FLOODER], ca: s.caPem, target: '/kubegate/v1/revocations' })
    const limited = await admin(forged(s))
    assert.equal(limited.status, 429, limited.text)
    assert.equal(limited.json<{ reason: string }>().reason, 'TooManyRequests')
    assert.equal((await admin(valid)).status, 403)
  })

  it('upgrade path: over budget a forged WebSocket upgrade gets a 429 Status with zero upstream; the cached token is upgraded (101)', async () => {
    assert.equal((await pods(s, forged(s), FLOODER)).status, 429)
    const upgradesBefore = s.apiserver.upgradeRequests
    const refused = await rawConnect(s.kg.url, s.caPem)
    try {
      refused.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${forged(s)}`, `X-Forwarded-For: ${FLOODER}`]))
      const a = await refused.untilClosed()
      assert.equal(a.status, 429, a.text)
      assert.equal(JSON.parse(a.body).reason, 'TooManyRequests')
      assert.ok(Number(header(a, 'retry-after')[0]) >= 1)
      assert.equal(s.apiserver.upgradeRequests, upgradesBefore, 'the refused upgrade never reached the apiserver')
    } finally {
      refused.close()
    }
    const ok = await rawConnect(s.kg.url, s.caPem)
    try {
      ok.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${valid}`, `X-Forwarded-For: ${FLOODER}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
      assert.equal((await ok.head()).status, 101)
    } finally {
      ok.close()
    }
  })
})

describe('the tarpit: an address over its budget has its 429 held', () => {
  let s: Stack
  const clock = Date.now()
  /** Answers held now, as kubegate_failed_auth_tarpitted reports it. */
  const held = async (): Promise<number> => (await scrape(s)).value('kubegate_failed_auth_tarpitted') ?? -1
  const podsHead = (token: string): string => `GET /api/v1/namespaces/${NS}/pods HTTP/1.1\r\nHost: localhost\r\n` +
    `Authorization: Bearer ${token}\r\nX-Forwarded-For: ${FLOODER}\r\n\r\n`

  before(async () => {
    // A delay no test waits out, and room for one held answer: every assertion is on order, not on time.
    s = await startUpgradeStack({
      config: { server: { trustedProxies: ['127.0.0.1/32'], failedAuthPerAddress: { ratePerSecond: 1, burst: 1, tarpitSeconds: 30, maxTarpitted: 1 } } },
      start: { now: () => clock },
    })
    assert.equal((await pods(s, forged(s), FLOODER)).status, 401) // the burst is used up
  })
  after(async () => { await s.close() })

  it('holds the first over-budget answer; with the set full the next is answered at once; a held client that leaves frees its place', async () => {
    const first = await rawConnect(s.kg.url, s.caPem)
    try {
      first.socket.write(podsHead(forged(s)))
      await until('the first answer held', async () => await held() === 1)
      const second = await pods(s, forged(s), FLOODER)
      assert.equal(second.status, 429, 'the set is full: answered at once')
      assert.equal(first.received().length, 0, 'the first answer is still held')
    } finally {
      first.close()
    }
    await until('the held answer released', async () => await held() === 0)
    // Another address keeps its own budget: its forged token is verified and refused (401) at once.
    assert.equal((await pods(s, forged(s), NEIGHBOUR)).status, 401)
  })

  it('holds an over-budget upgrade the same way, with zero upstream', async () => {
    const upgradesBefore = s.apiserver.upgradeRequests
    const c = await rawConnect(s.kg.url, s.caPem)
    try {
      c.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${forged(s)}`, `X-Forwarded-For: ${FLOODER}`]))
      await until('the upgrade answer held', async () => await held() === 1)
      assert.equal(c.received().length, 0)
      assert.equal(s.apiserver.upgradeRequests, upgradesBefore)
    } finally {
      c.close()
    }
    await until('the held upgrade released', async () => await held() === 0)
  })
})

describe('a burst of 500 concurrent forged tokens (the verifier path, budget off)', () => {
  let s: Stack

  before(async () => {
    s = await startStack({ plainHttp: true, config: { server: { failedAuthPerAddress: { ratePerSecond: 0 } } } })
  })
  after(async () => { await s.close() })

  /** One request on a fresh connection; resolves with the status, or the client-side error after 60 s. */
  function once (token: string): Promise<number | string> {
    const u = new URL(s.kg.url)
    return new Promise((resolve) => {
      const req = httpRequest({ host: u.hostname, port: u.port, path: '/api/v1/namespaces/default/pods', agent: false, timeout: 60_000, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
        res.on('error', (e) => resolve(`error: ${e.message}`))
      })
      req.on('timeout', () => req.destroy(new Error('client timeout')))
      req.on('error', (e) => resolve(`error: ${e.message}`))
      req.end()
    })
  }

  it('every request is answered (401, or 503 beyond the pending cap), none forwarded', async () => {
    const upstreamBefore = s.apiserver.requests.length
    const answers = await Promise.all(Array.from({ length: 500 }, () => once(forged(s))))
    const unexpected = answers.filter((a) => a !== 401 && a !== 503)
    assert.deepEqual(unexpected, [], `${answers.length - unexpected.length} of 500 answered`)
    assert.equal(s.apiserver.requests.length, upstreamBefore)
  })
})

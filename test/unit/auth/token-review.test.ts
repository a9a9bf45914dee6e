// Unit tests: the TokenReview authenticator (answer reading, audiences, caches bounded by exp, no token in serialized results).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createTokenReviewer, isPassedThrough, readReview, tokenReview } from '../../../src/auth/token-review.js'
import { KubegateError } from '../../../src/errors.js'
import type { ApiClient } from '../../../src/k8s/api-client.js'

const seg = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
const saToken = (exp: number): string => `${seg({ alg: 'RS256' })}.${seg({ iss: 'https://kubernetes.default.svc.cluster.local', exp, iat: exp - 3600 })}.c2ln`

const ok = (username: string): unknown => ({
  status: { authenticated: true, user: { username, uid: 'u-1', groups: ['system:serviceaccounts', 'system:authenticated'], extra: { k: ['v'] } }, audiences: ['api'] },
})

function client (answer: (body: { spec: { token: string } }) => unknown): ApiClient & { calls: number } {
  const c = {
    calls: 0,
    async create (_path: string, body: unknown) {
      c.calls++
      return answer(body as { spec: { token: string } })
    },
    async close () {},
  }
  return c
}

describe('tokenReview / readReview', () => {
  it('asks with the token and the configured audiences only', () => {
    assert.deepEqual(tokenReview('t', []), { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 't' } })
    assert.deepEqual(tokenReview('t', ['a']), { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: 't', audiences: ['a'] } })
  })
  it('takes the identity exactly as reported; exp/iat from the JWT when there is one', () => {
    const id = readReview(ok('system:serviceaccount:ci:bot'), [], saToken(2_000_000_000))
    assert.deepEqual(id, {
      user: 'system:serviceaccount:ci:bot', groups: ['system:serviceaccounts', 'system:authenticated'], uid: 'u-1', extra: { k: ['v'] },
      sub: 'system:serviceaccount:ci:bot', exp: 2_000_000_000, iat: 2_000_000_000 - 3600,
    })
  })
  it('not authenticated, no username, or none of the asked audiences: 401', () => {
    for (const [answer, aud] of [[{ status: { authenticated: false, error: 'expired' } }, []], [{}, []], [{ status: { authenticated: true, user: {} } }, []],
      [ok('x'), ['vault']]] as Array<[unknown, string[]]>) {
      assert.throws(() => readReview(answer, aud, 'opaque'), (e: unknown) => e instanceof KubegateError && e.statusCode === 401)
    }
    assert.equal(readReview(ok('x'), ['api'], 'opaque').user, 'x')
  })
})

describe('createTokenReviewer', () => {
  it('caches an accepted token for min(ttl, exp) and a refused one for the negative ttl', async () => {
    let t = 1_000_000_000_000
    const now = (): number => t
    const good = saToken(Math.floor(t / 1000) + 4)
    const c = client((b) => b.spec.token === good ? ok('system:serviceaccount:ci:bot') : { status: { authenticated: false } })
    const results: string[] = []
    const r = createTokenReviewer({ client: c, audiences: [], ttlSeconds: 10, negativeTtlSeconds: 2, maxEntries: 10, now, onReview: (x) => results.push(x) })
    const a = await r.review(good)
    assert.equal(isPassedThrough(a), true)
    assert.equal(a.passthrough.authorization, `Bearer ${good}`)
    assert.deepEqual(a.headers, [])
    const hit = r.review(good)
    assert.equal(hit instanceof Promise, false, 'a cached answer is synchronous (no await on the hot path)')
    assert.equal(r.cached(good), a)
    assert.equal(r.cached('bad'), undefined)
    await assert.rejects(async () => await r.review('bad'), { statusCode: 401 })
    await assert.rejects(async () => await r.review('bad'), { statusCode: 401 })
    assert.equal(c.calls, 2)
    t += 2500
    await assert.rejects(async () => await r.review('bad'), { statusCode: 401 })
    assert.equal(c.calls, 3)
    t += 2000 // past the token's exp (4 s), before the ttl (10 s)
    await r.review(good)
    assert.equal(c.calls, 4)
    assert.deepEqual(results, ['authenticated', 'unauthenticated', 'unauthenticated', 'authenticated'])
    assert.deepEqual(r.stats, { hits: 1, misses: 4, negativeHits: 1 })
  })

  it('a failure to ask is not cached and keeps its code (503/500, not 401)', async () => {
    let down = true
    const c = client(() => {
      if (down) throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE')
      return ok('x')
    })
    const r = createTokenReviewer({ client: c, audiences: [], ttlSeconds: 10, negativeTtlSeconds: 10, maxEntries: 10 })
    await assert.rejects(async () => await r.review('t'), { statusCode: 503 })
    down = false
    assert.equal((await r.review('t')).identity.user, 'x')
  })

  it('the token never appears when the result is serialized or inspected', async () => {
    const token = 'very-secret-token-value'
    const r = createTokenReviewer({ client: client(() => ok('x')), audiences: [], ttlSeconds: 10, negativeTtlSeconds: 10, maxEntries: 10 })
    const a = await r.review(token)
    const { inspect } = await import('node:util')
    assert.doesNotMatch(JSON.stringify(a), /very-secret/)
    assert.doesNotMatch(inspect(a, { depth: 10, showHidden: true }), /very-secret/)
  })
})

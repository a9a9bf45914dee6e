import assert from 'node:assert/strict'
import { after, afterEach, describe, it } from 'node:test'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { KubegateError, type ErrorCode } from '../../../src/errors.js'
import { createSyncBudget } from '../../../src/oidc/sync-budget.js'
import { createOidcVerifier, type OidcVerifier, type OidcVerifierOptions } from '../../../src/oidc/verifier.js'
import { b64url } from '../../helpers/forge.js'
import {
  CLIENT_ID, DISCOVERY_URL, fakeIssuer, forge, ISSUER, joseSign, JWKS_URI, jwks, KEYS, manualClock, T0, T0_SEC, token, validClaims,
  type FakeIssuer,
} from './fixtures.js'

interface Harness {
  v: OidcVerifier
  issuer: FakeIssuer
  clock: ReturnType<typeof manualClock>
  outcomes: string[]
}

const open: OidcVerifier[] = []

async function harness (over: Partial<OidcVerifierOptions> = {}, keys = jwks(KEYS.k1), start = true): Promise<Harness> {
  const issuer = fakeIssuer(keys)
  const clock = manualClock()
  const outcomes: string[] = []
  const v = createOidcVerifier({
    issuerUrl: ISSUER,
    clientId: CLIENT_ID,
    signingAlgs: ['RS256'],
    clockSkewSeconds: 60,
    jwksRefreshCooldownSeconds: 30,
    jwksMaxAgeSeconds: 3600,
    jwksStaleAfterSeconds: 86400,
    maxPendingVerifications: 256,
    now: clock.now,
    fetchJson: issuer.fetchJson,
    onVerify: (o) => outcomes.push(o),
    ...over,
  })
  open.push(v)
  if (start) await v.start()
  return { v, issuer, clock, outcomes }
}

afterEach(async () => {
  while (open.length > 0) await open.pop()?.close()
})

async function rejects (p: Promise<unknown>, code: ErrorCode, failure?: string): Promise<KubegateError> {
  let caught: unknown
  try {
    await p
  } catch (err) {
    caught = err
  }
  assert.ok(caught instanceof KubegateError, `expected KubegateError ${code}, got ${caught === undefined ? 'success' : String(caught)}`)
  assert.equal(caught.code, code, `code ${caught.code} (failure ${String(caught.failure)})`)
  if (failure !== undefined) assert.equal(caught.failure, failure)
  return caught
}

describe('verifier: valid tokens', () => {
  it('accepts a valid RS256 token signed by jose and returns payload and exp', async () => {
    const h = await harness()
    const r = await h.v.verify(await joseSign(validClaims(), KEYS.k1))
    assert.equal(r.exp, T0_SEC + 3600)
    assert.equal(r.kid, 'k1')
    assert.equal(r.payload.email, 'alice@example.com')
    assert.deepEqual(h.outcomes, ['ok'])
    assert.equal(h.v.isReady(), true)
  })

  it('discovery then JWKS are fetched once at start', async () => {
    const h = await harness()
    assert.deepEqual(h.issuer.calls, [DISCOVERY_URL, JWKS_URI])
    assert.deepEqual(h.v.status().jwksKeys, 1)
  })

  it('ES256, PS256 and EdDSA are accepted when allowed, with matching keys', async () => {
    const h = await harness({ signingAlgs: ['RS256', 'ES256', 'PS256', 'EdDSA'] }, jwks(KEYS.k1, KEYS.ec, KEYS.ps, KEYS.ed))
    assert.equal((await h.v.verify(await joseSign(validClaims(), KEYS.ec, 'ES256'))).exp, T0_SEC + 3600)
    assert.equal((await h.v.verify(await joseSign(validClaims(), KEYS.ps, 'PS256'))).exp, T0_SEC + 3600)
    assert.equal((await h.v.verify(await joseSign(validClaims(), KEYS.ed, 'EdDSA'))).exp, T0_SEC + 3600)
    assert.equal((await h.v.verify(token())).exp, T0_SEC + 3600)
  })

  it('a token without kid is tried against the fitting keys (go-oidc parity)', async () => {
    const h = await harness({}, jwks(KEYS.k2, KEYS.k1))
    const t = forge({ alg: 'RS256', typ: 'JWT' }, validClaims(), KEYS.k1.privateKey)
    const r = await h.v.verify(t)
    assert.equal(r.exp, T0_SEC + 3600)
    assert.equal(r.kid, 'k1')
  })

  it('aud ["other","kubegate"] accepted', async () => {
    const h = await harness()
    await h.v.verify(token(validClaims(T0_SEC, { aud: ['other', CLIENT_ID] })))
  })

  it('exp 30 s ago (inside the 60 s skew) accepted', async () => {
    const h = await harness()
    await h.v.verify(token(validClaims(T0_SEC, { exp: T0_SEC - 30 })))
  })
})

describe('verifier: forgery', () => {
  for (const alg of ['none', 'None', 'NONE']) {
    for (const sig of ['', b64url('junk')]) {
      it(`alg ${alg} with ${sig === '' ? 'empty' : 'junk'} signature -> 401, nothing fetched`, async () => {
        const h = await harness()
        const before = h.issuer.calls.length
        const t = `${b64url(JSON.stringify({ alg, typ: 'JWT', kid: 'k1' }))}.${b64url(JSON.stringify(validClaims()))}.${sig}`
        await rejects(h.v.verify(t), 'KG_ERR_BAD_TOKEN')
        assert.equal(h.issuer.calls.length, before)
      })
    }
  }

  it('HS256 signed with the public key PEM text as HMAC secret -> 401', async () => {
    const h = await harness()
    const pem = KEYS.k1.publicKey.export({ type: 'spki', format: 'pem' }).toString()
    for (const kid of ['k1', undefined]) {
      const header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }
      if (kid !== undefined) header.kid = kid
      await rejects(h.v.verify(forge(header, validClaims(), Buffer.from(pem))), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
      await rejects(h.v.verify(forge(header, validClaims(), Buffer.from(pem.trim()))), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
    }
  })

  it('HS256 signed with the JWK JSON text as HMAC secret -> 401 (also when HS256 is "allowed")', async () => {
    const h = await harness({ signingAlgs: ['RS256', 'HS256'] })
    const secret = Buffer.from(JSON.stringify(KEYS.k1.jwk))
    await rejects(h.v.verify(forge({ alg: 'HS256', kid: 'k1' }, validClaims(), secret)), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
  })

  it('attacker RSA key with the real kid -> bad_signature, no JWKS refetch', async () => {
    const h = await harness()
    h.clock.advance(60_000) // even outside the cooldown, a known kid must not trigger a fetch
    const before = h.issuer.jwksFetches()
    await rejects(h.v.verify(token(validClaims(), KEYS.attacker)), 'KG_ERR_BAD_TOKEN', 'bad_signature')
    assert.equal(h.issuer.jwksFetches(), before)
  })

  it('a tampered payload -> bad_signature', async () => {
    const h = await harness()
    const [hd, , s] = token().split('.') as [string, string, string]
    await rejects(h.v.verify(`${hd}.${b64url(JSON.stringify(validClaims(T0_SEC, { email: 'admin@example.com' })))}.${s}`), 'KG_ERR_BAD_TOKEN', 'bad_signature')
  })

  for (const name of ['jwk', 'jku', 'x5u', 'x5c', 'crit'] as const) {
    it(`embedded/pointing header ${name} -> 401, nothing fetched`, async () => {
      const h = await harness()
      h.clock.advance(60_000)
      const before = h.issuer.calls.length
      const value = {
        jwk: KEYS.attacker.jwk,
        jku: 'https://attacker.example/keys',
        x5u: 'https://attacker.example/cert.pem',
        x5c: [KEYS.attacker.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')],
        crit: ['exp'],
      }[name]
      // Signed by the attacker (with the real kid and with a fresh one), and by the real key.
      for (const [key, kid] of [[KEYS.attacker, 'k1'], [KEYS.attacker, 'attacker-kid'], [KEYS.k1, 'k1']] as const) {
        const t = forge({ alg: 'RS256', kid, [name]: value }, validClaims(), key.privateKey)
        await rejects(h.v.verify(t), 'KG_ERR_BAD_TOKEN', 'forbidden_header')
      }
      assert.equal(h.issuer.calls.length, before)
      assert.ok(!h.issuer.calls.some((u) => u.includes('attacker')))
    })
  }

  it('PS256 and ES256 when only RS256 is allowed -> 401', async () => {
    const h = await harness({}, jwks(KEYS.k1, KEYS.ec, KEYS.ps))
    await rejects(h.v.verify(await joseSign(validClaims(), KEYS.ps, 'PS256')), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
    await rejects(h.v.verify(await joseSign(validClaims(), KEYS.ec, 'ES256')), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
    // PS256 signed with the RSA key the issuer publishes for RS256
    await rejects(h.v.verify(forge({ alg: 'PS256', kid: 'k1' }, validClaims(), KEYS.k1.privateKey)), 'KG_ERR_BAD_TOKEN', 'alg_not_allowed')
  })

  it('an EC key cannot verify an RS256 token', async () => {
    const ecNoAlg = { ...KEYS.ec.jwk }
    delete ecNoAlg.alg
    const h = await harness({ signingAlgs: ['RS256', 'ES256'] }, jwks(KEYS.k1, ecNoAlg))
    await rejects(h.v.verify(forge({ alg: 'RS256', kid: 'k-ec' }, validClaims(), KEYS.k1.privateKey)), 'KG_ERR_BAD_TOKEN')
  })

  it('a JWK with alg RS384 cannot verify an RS256 token signed by its key', async () => {
    const h = await harness({ signingAlgs: ['RS256', 'RS384'] }, jwks(KEYS.k1, KEYS.rs384))
    await rejects(h.v.verify(token(validClaims(), KEYS.rs384, 'RS256')), 'KG_ERR_BAD_TOKEN')
    assert.equal((await h.v.verify(token(validClaims(), KEYS.rs384, 'RS384'))).exp, T0_SEC + 3600)
  })

  it('oct keys in the JWKS are ignored', async () => {
    const secret = Buffer.from('shared-secret-0123456789abcdef')
    const h = await harness({ signingAlgs: ['RS256'] }, { keys: [{ kty: 'oct', kid: 'hs', k: secret.toString('base64url') }, KEYS.k1.jwk] })
    assert.equal(h.v.status().jwksKeys, 1)
    await rejects(h.v.verify(forge({ alg: 'HS256', kid: 'hs' }, validClaims(), secret)), 'KG_ERR_BAD_TOKEN')
    await rejects(h.v.verify(forge({ alg: 'RS256', kid: 'hs' }, validClaims(), KEYS.k1.privateKey)), 'KG_ERR_BAD_TOKEN')
  })

  it('RSA keys under 2048 bits are ignored', async () => {
    const h = await harness({}, jwks(KEYS.small, KEYS.k1))
    assert.equal(h.v.status().jwksKeys, 1)
    await rejects(h.v.verify(token(validClaims(), KEYS.small)), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
  })

  it('malformed tokens -> 401', async () => {
    const h = await harness()
    for (const t of ['', 'garbage', 'a.b', 'a.b.c.d', `${token()}x.y`, ' ' + token()]) {
      await rejects(h.v.verify(t), 'KG_ERR_BAD_TOKEN')
    }
  })
})

describe('verifier: claims', () => {
  const cases: Array<[string, Record<string, unknown>, string[], ErrorCode, string]> = [
    ['iss https://evil', { iss: 'https://evil' }, [], 'KG_ERR_BAD_TOKEN', 'bad_issuer'],
    ['iss with a trailing slash', { iss: `${ISSUER}/` }, [], 'KG_ERR_BAD_TOKEN', 'bad_issuer'],
    ['iss http://', { iss: ISSUER.replace('https://', 'http://') }, [], 'KG_ERR_BAD_TOKEN', 'bad_issuer'],
    ['iss missing', {}, ['iss'], 'KG_ERR_BAD_TOKEN', 'bad_issuer'],
    ['aud other', { aud: 'other' }, [], 'KG_ERR_BAD_TOKEN', 'bad_audience'],
    ['aud missing', {}, ['aud'], 'KG_ERR_BAD_TOKEN', 'bad_audience'],
    ['aud []', { aud: [] }, [], 'KG_ERR_BAD_TOKEN', 'bad_audience'],
    ['exp 61 s ago', { exp: T0_SEC - 61 }, [], 'KG_ERR_TOKEN_EXPIRED', 'expired'],
    ['exp missing', {}, ['exp'], 'KG_ERR_BAD_TOKEN', 'missing_exp'],
    ['nbf 10 min ahead', { nbf: T0_SEC + 600 }, [], 'KG_ERR_BAD_TOKEN', 'not_yet_valid'],
    ['iat 10 min in the future', { iat: T0_SEC + 600 }, [], 'KG_ERR_BAD_TOKEN', 'issued_in_future'],
  ]
  for (const [name, over, omit, code, failure] of cases) {
    it(`${name} -> ${code} (${failure}), 401`, async () => {
      const h = await harness()
      const c = validClaims(T0_SEC, over)
      for (const k of omit) delete c[k]
      const err = await rejects(h.v.verify(token(c)), code, failure)
      assert.equal(err.statusCode, 401)
      assert.deepEqual(h.outcomes, [failure])
    })
  }

  it('expiry follows the injected clock', async () => {
    const h = await harness()
    const t = token()
    await h.v.verify(t)
    // Valid until exp + skew, exclusive (RFC 7519 §4.1.4; jose and go-oidc agree).
    h.clock.advance((3600 + 59) * 1000)
    await h.v.verify(t)
    h.clock.advance(1000)
    await rejects(h.v.verify(t), 'KG_ERR_TOKEN_EXPIRED')
  })
})

describe('verifier: key rotation and JWKS availability', () => {
  // Behaviour change (issue 14, part 5): right after start an unknown kid refetches (the start-up fetch does
  // not start the cooldown); the refetch that does not find it does.
  it('unknown kid -> one refetch, then the cooldown after that miss', async () => {
    const h = await harness()
    const unknown = token(validClaims(), { ...KEYS.k2, kid: 'unknown' })
    await rejects(h.v.verify(unknown), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    assert.equal(h.issuer.jwksFetches(), 2)
    h.clock.advance(29_999)
    await rejects(h.v.verify(unknown), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    assert.equal(h.issuer.jwksFetches(), 2)
    h.clock.advance(1)
    await rejects(h.v.verify(unknown), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    assert.equal(h.issuer.jwksFetches(), 3)
  })

  it('rotation window: a token with the new key 1 ms after a fetch is accepted after one refetch', async () => {
    const h = await harness()
    await h.v.refreshKeys() // a fetch "shortly before" (scheduled refresh, SIGHUP, start-up)
    h.clock.advance(1)
    h.issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    const before = h.issuer.jwksFetches()
    await h.v.verify(token(validClaims(), KEYS.k2))
    assert.equal(h.issuer.jwksFetches() - before, 1)
  })

  it('rotation under forged-kid traffic: the new key is accepted at the latest one cooldown after the last miss', async () => {
    const h = await harness()
    await rejects(h.v.verify(token(validClaims(), { ...KEYS.k2, kid: 'forged' })), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    h.issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    h.clock.advance(29_999)
    await rejects(h.v.verify(token(validClaims(), KEYS.k2)), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    h.clock.advance(1)
    await h.v.verify(token(validClaims(), KEYS.k2))
  })

  it('refreshKeys ignores the cooldown (tokens from the issuer itself) and reports the outcome', async () => {
    const h = await harness()
    await rejects(h.v.verify(token(validClaims(), { ...KEYS.k2, kid: 'forged' })), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    h.issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    assert.equal(await h.v.refreshKeys(), true)
    await h.v.verify(token(validClaims(), KEYS.k2))
    h.issuer.failJwks = true
    assert.equal(await h.v.refreshKeys(), false)
  })

  it('a burst of 1,000 unknown-kid tokens costs at most one fetch per cooldown', async () => {
    const h = await harness()
    h.clock.advance(31_000)
    const before = h.issuer.jwksFetches()
    const [, p] = token().split('.') as [string, string, string]
    const tokens = Array.from({ length: 1000 }, (_, i) => {
      return `${b64url(JSON.stringify({ alg: 'RS256', kid: `forged-${i}` }))}.${p}.${b64url(Buffer.alloc(256, i & 0xff))}`
    })
    const results = await Promise.allSettled(tokens.map((t) => h.v.verify(t)))
    assert.ok(results.every((r) => r.status === 'rejected' && r.reason instanceof KubegateError && r.reason.statusCode === 401))
    assert.ok(h.issuer.jwksFetches() - before <= 1, `fetches: ${h.issuer.jwksFetches() - before}`)
    // and the valid user is still served
    await h.v.verify(token())
  })

  it('rotation: a token signed by a new key triggers one fetch and verifies', async () => {
    const h = await harness()
    h.clock.advance(31_000)
    h.issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    const before = h.issuer.jwksFetches()
    const [a, b] = await Promise.all([h.v.verify(token(validClaims(), KEYS.k2)), h.v.verify(token(validClaims(), KEYS.k2))])
    assert.equal(a.exp, T0_SEC + 3600)
    assert.equal(b.exp, T0_SEC + 3600)
    assert.equal(h.issuer.jwksFetches() - before, 1)
    await h.v.verify(token(validClaims(), KEYS.k1))
    assert.equal(h.issuer.jwksFetches() - before, 1)
  })

  it('a key removed from the JWKS stops verifying after the cache refreshes', async () => {
    const removed: string[] = []
    const h = await harness({ onKeysRemoved: (kids) => removed.push(...kids) }, jwks(KEYS.k1, KEYS.k2))
    const t1 = token(validClaims(), KEYS.k1)
    await h.v.verify(t1)
    h.issuer.setJwks(jwks(KEYS.k2))
    await h.v.refreshKeys()
    await rejects(h.v.verify(t1), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    await h.v.verify(token(validClaims(), KEYS.k2))
    assert.deepEqual(removed, ['k1'])
  })

  it('JWKS down with cached keys: known kid works; unknown kid -> KG_ERR_ISSUER_UNAVAILABLE (503)', async () => {
    const h = await harness()
    h.issuer.failJwks = true
    h.clock.advance(31_000)
    await h.v.verify(token())
    const err = await rejects(h.v.verify(token(validClaims(), KEYS.k2)), 'KG_ERR_ISSUER_UNAVAILABLE')
    assert.equal(err.statusCode, 503)
    assert.ok((err.retryAfter ?? 0) > 0)
    // within the cooldown no new fetch: a plain 401
    await rejects(h.v.verify(token(validClaims(), KEYS.k2)), 'KG_ERR_BAD_TOKEN', 'unknown_kid')
    assert.equal(h.v.isReady(), true)
  })

  it('no key set loaded yet -> 503, and not ready', async () => {
    const issuer = fakeIssuer()
    issuer.failJwks = true
    const h = await harness({ fetchJson: issuer.fetchJson })
    assert.equal(h.v.isReady(), false)
    const err = await rejects(h.v.verify(token()), 'KG_ERR_ISSUER_UNAVAILABLE')
    assert.equal(err.statusCode, 503)
  })

  it('discovery with a different issuer is refused (not ready, nothing else fetched)', async () => {
    const issuer = fakeIssuer()
    issuer.discovery.issuer = `${ISSUER}/`
    const h = await harness({ fetchJson: issuer.fetchJson })
    assert.equal(h.v.isReady(), false)
    assert.equal(h.v.status().discovered, false)
    assert.ok(h.v.status().lastError !== undefined)
    assert.deepEqual(issuer.calls, [DISCOVERY_URL])
    await rejects(h.v.verify(token()), 'KG_ERR_ISSUER_UNAVAILABLE')
  })

  it('discovery with an http jwks_uri is refused', async () => {
    const issuer = fakeIssuer()
    issuer.discovery.jwks_uri = 'http://issuer.test/dex/keys'
    const h = await harness({ fetchJson: issuer.fetchJson })
    assert.equal(h.v.status().discovered, false)
    assert.deepEqual(issuer.calls, [DISCOVERY_URL])
  })

  it('readiness follows the age of the key set', async () => {
    const h = await harness({ jwksStaleAfterSeconds: 600 })
    assert.equal(h.v.isReady(), true)
    h.issuer.failJwks = true
    h.clock.advance(601_000)
    assert.equal(h.v.isReady(), false)
    h.issuer.failJwks = false
    await h.v.refreshKeys()
    assert.equal(h.v.isReady(), true)
  })

  it('maxPendingVerifications exceeded on the pool path -> KG_ERR_VERIFIER_BUSY (503)', async () => {
    const h = await harness({ maxPendingVerifications: 2, syncBudget: createSyncBudget({ share: 0, burstMs: 0 }) })
    const tokens = [0, 1, 2].map((i) => token(validClaims(T0_SEC, { n: i })))
    const results = await Promise.allSettled(tokens.map((t) => h.v.verify(t)))
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 2)
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    assert.equal(rejected.length, 1)
    const err = rejected[0]?.reason as KubegateError
    assert.equal(err.code, 'KG_ERR_VERIFIER_BUSY')
    assert.equal(err.statusCode, 503)
    // once drained, verification works again
    await h.v.verify(tokens[2] as string)
  })
})

describe('verifier: synchronous budget, then the pool under the pending cap', () => {
  it('within the budget, verification is synchronous: the pending cap does not apply', async () => {
    const mono = manualClock(0)
    const budget = createSyncBudget({ share: 0.25, burstMs: 5, clock: mono.now })
    const h = await harness({ maxPendingVerifications: 1, syncBudget: budget })
    const tokens = [0, 1, 2, 3].map((i) => token(validClaims(T0_SEC, { n: i })))
    const promises = tokens.map((t) => h.v.verify(t))
    const results = await Promise.allSettled(promises)
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
    assert.deepEqual(h.outcomes, ['ok', 'ok', 'ok', 'ok'])
    // The manual clock stood still, so nothing was charged; the budget is untouched and still allows.
    assert.equal(budget.available(), 5)
  })

  it('the budget is charged what verification took; once spent, the pool and its cap apply', async () => {
    let t = 0
    // Every reading of the clock advances it 1 ms, so one synchronous verification is charged 1 ms while
    // the few readings around it refill only 0.01 ms each (share 0.01): a 2 ms burst lasts three.
    const budget = createSyncBudget({ share: 0.01, burstMs: 2, clock: () => t++ })
    const h = await harness({ maxPendingVerifications: 1, syncBudget: budget })
    const tokens = [0, 1, 2, 3, 4].map((i) => token(validClaims(T0_SEC, { n: i })))
    // Concurrent: 1-3 synchronous (2 -> ~1 -> ~0.04 -> ~-0.92), 4 goes to the pool (pending 0 -> 1),
    // 5 meets the pending cap.
    const results = await Promise.allSettled(tokens.map((x) => h.v.verify(x)))
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected'])
    assert.equal(((results[4] as PromiseRejectedResult).reason as KubegateError).code, 'KG_ERR_VERIFIER_BUSY')
    assert.ok(budget.available() < 0, 'in debt after the third synchronous verification')
    // Drained: the pool takes new tokens again while the budget is spent.
    await h.v.verify(tokens[4] as string)
  })

  it('a failed signature on the synchronous path costs the budget its penalty: the next token goes to the pool', async () => {
    const mono = manualClock(0)
    const budget = createSyncBudget({ share: 0.25, burstMs: 5, failurePenaltyMs: 10, clock: mono.now })
    // No pool slot at all: whatever does not run synchronously is refused as busy.
    const h = await harness({ maxPendingVerifications: 0, syncBudget: budget })
    assert.equal((await h.v.verify(token(validClaims(T0_SEC, { n: 1 })))).kid, 'k1')
    assert.equal(budget.available(), 5, 'a valid token pays only its time (0 on the standing clock)')
    await rejects(h.v.verify(token(validClaims(), KEYS.attacker)), 'KG_ERR_BAD_TOKEN', 'bad_signature')
    assert.equal(budget.available(), -5)
    await rejects(h.v.verify(token(validClaims(T0_SEC, { n: 2 }))), 'KG_ERR_VERIFIER_BUSY', 'busy')
    mono.advance(20) // repays 5 ms of debt
    assert.equal(budget.available(), 0)
    mono.advance(1)
    assert.equal((await h.v.verify(token(validClaims(T0_SEC, { n: 3 })))).kid, 'k1')
  })

  it('a forged signature is refused on the synchronous path exactly as on the pool path', async () => {
    for (const share of [1, 0]) {
      const h = await harness({ syncBudget: createSyncBudget({ share, burstMs: share === 0 ? 0 : 1000 }) })
      const good = token(validClaims())
      const [hd, pl] = good.split('.')
      const forged = `${hd}.${pl}.${Buffer.from(new Uint8Array(256).fill(7)).toString('base64url')}`
      await rejects(h.v.verify(forged), 'KG_ERR_BAD_TOKEN', 'bad_signature')
      await rejects(h.v.verify(token(validClaims(), KEYS.attacker)), 'KG_ERR_BAD_TOKEN', 'bad_signature')
      assert.equal((await h.v.verify(good)).kid, 'k1')
    }
  })
})

describe('differential oracle: kubegate verifier vs jose jwtVerify', () => {
  const ALL_KEYS = jwks(KEYS.k1, KEYS.k2, KEYS.ec, KEYS.ps, KEYS.ed, KEYS.rs384, KEYS.small)
  ALL_KEYS.keys.push({ kty: 'oct', kid: 'hs', k: Buffer.from('shared-secret-0123456789abcdef').toString('base64url'), alg: 'HS256' })
  const RS = ['RS256']
  const MANY = ['RS256', 'ES256', 'PS256', 'EdDSA']
  const pem = KEYS.k1.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  const c = (over: Record<string, unknown> = {}, omit: string[] = []): Record<string, unknown> => {
    const x = validClaims(T0_SEC, over)
    for (const k of omit) delete x[k]
    return x
  }
  const signed = (claims: Record<string, unknown>): string => token(claims)

  const rows: Array<{ name: string, make: () => string | Promise<string>, algs?: string[] }> = [
    { name: 'valid RS256 (jose)', make: () => joseSign(c(), KEYS.k1) },
    { name: 'valid RS256 (node:crypto)', make: () => signed(c()) },
    { name: 'valid with typ at+jwt and an unknown header param', make: () => token(c(), KEYS.k1, 'RS256', { typ: 'at+jwt', foo: 'bar' }) },
    { name: 'aud ["other","kubegate"]', make: () => signed(c({ aud: ['other', CLIENT_ID] })) },
    { name: 'aud other', make: () => signed(c({ aud: 'other' })) },
    { name: 'aud missing', make: () => signed(c({}, ['aud'])) },
    { name: 'aud []', make: () => signed(c({ aud: [] })) },
    { name: 'iss https://evil', make: () => signed(c({ iss: 'https://evil' })) },
    { name: 'iss trailing slash', make: () => signed(c({ iss: `${ISSUER}/` })) },
    { name: 'iss http://', make: () => signed(c({ iss: ISSUER.replace('https:', 'http:') })) },
    { name: 'iss missing', make: () => signed(c({}, ['iss'])) },
    { name: 'exp 30 s ago', make: () => signed(c({ exp: T0_SEC - 30 })) },
    { name: 'exp 61 s ago', make: () => signed(c({ exp: T0_SEC - 61 })) },
    { name: 'exp exactly skew (60 s) ago', make: () => signed(c({ exp: T0_SEC - 60 })) },
    { name: 'exp 59 s ago', make: () => signed(c({ exp: T0_SEC - 59 })) },
    { name: 'exp missing', make: () => signed(c({}, ['exp'])) },
    { name: 'exp a string', make: () => signed(c({ exp: String(T0_SEC + 3600) })) },
    { name: 'nbf 10 min ahead', make: () => signed(c({ nbf: T0_SEC + 600 })) },
    { name: 'nbf 30 s ahead', make: () => signed(c({ nbf: T0_SEC + 30 })) },
    { name: 'nbf 60 s ahead', make: () => signed(c({ nbf: T0_SEC + 60 })) },
    { name: 'nbf 61 s ahead', make: () => signed(c({ nbf: T0_SEC + 61 })) },
    { name: 'nbf a string', make: () => signed(c({ nbf: 'now' })) },
    { name: 'alg none, empty signature', make: () => `${b64url(JSON.stringify({ alg: 'none', kid: 'k1' }))}.${b64url(JSON.stringify(c()))}.` },
    { name: 'alg None, junk signature', make: () => `${b64url(JSON.stringify({ alg: 'None', kid: 'k1' }))}.${b64url(JSON.stringify(c()))}.${b64url('junk')}` },
    { name: 'HS256 with PEM as secret', make: () => forge({ alg: 'HS256', kid: 'k1' }, c(), Buffer.from(pem)) },
    { name: 'HS256 with JWK JSON as secret', make: () => forge({ alg: 'HS256', kid: 'k1' }, c(), Buffer.from(JSON.stringify(KEYS.k1.jwk))) },
    { name: 'HS256 with the oct key from the JWKS', make: () => forge({ alg: 'HS256', kid: 'hs' }, c(), Buffer.from('shared-secret-0123456789abcdef')) },
    { name: 'attacker key, real kid', make: () => token(c(), KEYS.attacker) },
    { name: 'unknown kid', make: () => token(c(), { ...KEYS.k2, kid: 'nope' }) },
    { name: 'tampered payload', make: () => { const [h, , s] = signed(c()).split('.'); return `${h}.${b64url(JSON.stringify(c({ email: 'root@x' })))}.${s}` } },
    { name: 'crit header', make: () => token(c(), KEYS.k1, 'RS256', { crit: ['exp'], exp: 1 }) },
    { name: 'PS256 when only RS256', make: () => joseSign(c(), KEYS.ps, 'PS256') },
    { name: 'ES256 when only RS256', make: () => joseSign(c(), KEYS.ec, 'ES256') },
    { name: 'ES256 allowed', make: () => joseSign(c(), KEYS.ec, 'ES256'), algs: MANY },
    { name: 'PS256 allowed', make: () => joseSign(c(), KEYS.ps, 'PS256'), algs: MANY },
    { name: 'EdDSA allowed', make: () => joseSign(c(), KEYS.ed, 'EdDSA'), algs: MANY },
    { name: 'RS256 by the RS384-tagged key', make: () => token(c(), KEYS.rs384, 'RS256'), algs: ['RS256', 'RS384'] },
    { name: 'RS256 with the kid of the EC key', make: () => forge({ alg: 'RS256', kid: 'k-ec' }, c(), KEYS.k1.privateKey), algs: MANY },
    { name: 'ES256 signed by the EC key but named as k1', make: () => forge({ alg: 'ES256', kid: 'k1' }, c(), KEYS.ec.privateKey), algs: MANY },
    { name: '1024-bit key', make: () => token(c(), KEYS.small) },
    { name: 'payload is an array', make: () => forge({ alg: 'RS256', kid: 'k1' }, '[1,2]', KEYS.k1.privateKey) },
  ]

  const verifiers = new Map<string, Promise<Harness>>()
  after(async () => {
    for (const p of verifiers.values()) await (await p).v.close()
  })
  function verifierFor (algs: string[], path: 'sync' | 'pool'): Promise<Harness> {
    const key = `${algs.join(',')}/${path}`
    let p = verifiers.get(key)
    if (p === undefined) {
      p = (async () => {
        const syncBudget = path === 'sync' ? createSyncBudget({ share: 1, burstMs: 1e9 }) : createSyncBudget({ share: 0, burstMs: 0 })
        const h = await harness({ signingAlgs: algs, syncBudget }, structuredClone(ALL_KEYS))
        open.splice(open.indexOf(h.v), 1) // lives for the whole describe
        return h
      })()
      verifiers.set(key, p)
    }
    return p
  }
  const localJwks = createLocalJWKSet(ALL_KEYS as JSONWebKeySet)

  for (const row of rows) for (const path of ['sync', 'pool'] as const) {
    it(`agrees with jose (${path}): ${row.name}`, async () => {
      const algs = row.algs ?? RS
      const t = await row.make()
      const h = await verifierFor(algs, path)
      let kg: boolean
      let kgWhy = ''
      try {
        await h.v.verify(t)
        kg = true
      } catch (err) {
        kg = false
        kgWhy = err instanceof KubegateError ? `${err.code}/${String(err.failure)}` : String(err)
      }
      let jo: boolean
      let joWhy = ''
      try {
        await jwtVerify(t, localJwks, {
          issuer: ISSUER,
          audience: CLIENT_ID,
          algorithms: algs,
          clockTolerance: 60,
          requiredClaims: ['exp'],
          currentDate: new Date(T0),
        })
        jo = true
      } catch (err) {
        jo = false
        joWhy = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err)
      }
      assert.equal(kg, jo, `kubegate ${kg ? 'accepted' : `refused (${kgWhy})`}, jose ${jo ? 'accepted' : `refused (${joWhy})`}`)
    })
  }
})

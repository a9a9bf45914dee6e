import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import { createKeySet, parseJwks, type KeySet } from '../../../src/oidc/key-set.js'
import { fakeIssuer, JWKS_URI, jwks, KEYS, manualClock } from './fixtures.js'

describe('parseJwks', () => {
  it('imports RSA, EC and OKP keys with type, curve, kid and alg', () => {
    const keys = parseJwks(jwks(KEYS.k1, KEYS.ec, KEYS.ed))
    assert.deepEqual(keys.map((k) => [k.kid, k.type, k.curve, k.alg]), [
      ['k1', 'rsa', undefined, 'RS256'],
      ['k-ec', 'ec', 'prime256v1', 'ES256'],
      ['k-ed', 'ed25519', undefined, 'EdDSA'],
    ])
    for (const k of keys) assert.equal(k.key.type, 'public')
  })

  it('ignores oct (symmetric) keys', () => {
    const keys = parseJwks({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 'hmac', alg: 'HS256' }, KEYS.k1.jwk] })
    assert.deepEqual(keys.map((k) => k.kid), ['k1'])
  })

  it('ignores RSA keys under 2048 bits', () => {
    assert.deepEqual(parseJwks(jwks(KEYS.small, KEYS.k1)).map((k) => k.kid), ['k1'])
  })

  it('ignores encryption keys, non-string kid/alg, garbage entries, and unknown kty', () => {
    const keys = parseJwks({
      keys: [
        { ...KEYS.k2.jwk, use: 'enc' },
        { ...KEYS.k2.jwk, kid: 5 },
        { ...KEYS.k2.jwk, alg: ['RS256'] },
        { kty: 'RSA', n: 'AQAB', e: 'AQAB', kid: 'broken' },
        null,
        'string',
        { kty: 'XYZ', kid: 'x' },
        KEYS.k1.jwk,
      ],
    })
    assert.deepEqual(keys.map((k) => k.kid), ['k1'])
  })

  it('imports only the public part of a JWK carrying private members', () => {
    const priv = { ...KEYS.k1.privateKey.export({ format: 'jwk' }), kid: 'k1' }
    const [k] = parseJwks({ keys: [priv] })
    assert.equal(k?.key.type, 'public')
  })

  it('throws when the body is not { keys: [] }', () => {
    assert.throws(() => parseJwks(null))
    assert.throws(() => parseJwks({}))
    assert.throws(() => parseJwks({ keys: {} }))
    assert.throws(() => parseJwks([KEYS.k1.jwk]))
  })

  it('reads at most 100 keys', () => {
    const many = Array.from({ length: 150 }, (_, i) => ({ ...KEYS.k1.jwk, kid: `k${i}` }))
    assert.equal(parseJwks({ keys: many }).length, 100)
  })
})

describe('createKeySet', () => {
  let ks: KeySet | undefined
  afterEach(() => ks?.close())

  it('loads on setUri; get by kid; get(undefined) returns all', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1, KEYS.k2))
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    assert.equal(ks.loaded, false)
    assert.equal(ks.lastSuccess, 0)
    await ks.setUri(JWKS_URI)
    assert.equal(ks.loaded, true)
    assert.equal(ks.size, 2)
    assert.equal(ks.lastSuccess, clock.now())
    assert.equal(ks.get('k1').length, 1)
    assert.equal(ks.get('nope').length, 0)
    assert.equal(ks.get(undefined).length, 2)
    assert.equal(issuer.jwksFetches(), 1)
  })

  // Behaviour change (issue 14, part 5): the start-up fetch no longer starts the unknown-kid cooldown; only an
  // unknown-kid refetch that did not find its key (or failed) does.
  it('refreshForUnknownKid: fetches at once after start-up, then cooldown after a miss, single flight', async () => {
    const issuer = fakeIssuer()
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => ks?.refreshForUnknownKid(`forged-${i}`)))
    assert.ok(all.every((o) => o === 'fetched'), all.join(','))
    assert.equal(issuer.jwksFetches(), 2)
    assert.equal(await ks.refreshForUnknownKid('forged-x'), 'cooldown')
    clock.advance(29_999)
    assert.equal(await ks.refreshForUnknownKid('forged-y'), 'cooldown')
    assert.equal(issuer.jwksFetches(), 2)
    clock.advance(1)
    assert.equal(await ks.refreshForUnknownKid('forged-z'), 'fetched')
    assert.equal(issuer.jwksFetches(), 3)
  })

  it('rotation window: a new kid right after a scheduled/startup fetch is fetched and found at once', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1))
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    clock.advance(10) // 10 ms after the last fetch: the old policy answered "cooldown" for 30 s
    issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    assert.equal(await ks.refreshForUnknownKid('k2'), 'fetched')
    assert.equal(ks.has('k2'), true)
    assert.equal(issuer.jwksFetches(), 2)
  })

  it('a refetch that found its key does not start the cooldown: a second rotation right after is found too', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1))
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    assert.equal(await ks.refreshForUnknownKid('k2'), 'fetched')
    issuer.setJwks(jwks(KEYS.k2, KEYS.ec))
    assert.equal(await ks.refreshForUnknownKid('k-ec'), 'fetched')
    assert.equal(ks.has('k-ec'), true)
  })

  it('after a miss, the new key waits for the cooldown; refresh() (a token from the issuer itself) does not', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1))
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    assert.equal(await ks.refreshForUnknownKid('forged'), 'fetched') // a miss: the cooldown starts
    issuer.setJwks(jwks(KEYS.k1, KEYS.k2))
    clock.advance(1000)
    assert.equal(await ks.refreshForUnknownKid('k2'), 'cooldown')
    assert.equal(ks.has('k2'), false)
    assert.equal(await ks.refresh(), true)
    assert.equal(ks.has('k2'), true)
  })

  it('a failed unknown-kid refetch starts the cooldown too (a down issuer is not hammered)', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1))
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    issuer.failJwks = true
    assert.equal(await ks.refreshForUnknownKid('k2'), 'failed')
    assert.equal(await ks.refreshForUnknownKid('k2'), 'cooldown')
    assert.equal(issuer.jwksFetches(), 2)
  })

  it('a failing fetch keeps the last good keys and reports failed', async () => {
    const issuer = fakeIssuer()
    const clock = manualClock()
    let failures = 0
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 1000, maxAgeMs: 3_600_000, now: clock.now, onFetch: (ok) => { if (!ok) failures++ } })
    await ks.setUri(JWKS_URI)
    issuer.failJwks = true
    clock.advance(1000)
    assert.equal(await ks.refreshForUnknownKid('k9'), 'failed')
    assert.equal(ks.loaded, true)
    assert.equal(ks.get('k1').length, 1)
    assert.match(ks.lastError ?? '', /ECONNREFUSED/)
    assert.equal(failures, 1)
  })

  it('a JWKS without usable keys is a failure and does not replace the good set', async () => {
    const issuer = fakeIssuer()
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 1000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    issuer.setJwks({ keys: [{ kty: 'oct', k: 'AAAA', kid: 'k1' }] })
    await ks.refresh()
    assert.equal(ks.get('k1').length, 1)
    assert.equal(ks.get('k1')[0]?.type, 'rsa')
    assert.ok(ks.lastError !== undefined)
  })

  it('refresh ignores the cooldown and replaces the set (rotation)', async () => {
    const issuer = fakeIssuer()
    const clock = manualClock()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 30_000, maxAgeMs: 3_600_000, now: clock.now })
    await ks.setUri(JWKS_URI)
    issuer.setJwks(jwks(KEYS.k2))
    await ks.refresh()
    assert.equal(ks.get('k1').length, 0)
    assert.equal(ks.get('k2').length, 1)
    assert.equal(issuer.jwksFetches(), 2)
  })

  it('onKeysRemoved reports the kids that disappeared, only when some did, never on a failed fetch', async () => {
    const issuer = fakeIssuer(jwks(KEYS.k1, KEYS.k2))
    const removed: string[][] = []
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 1, maxAgeMs: 60_000, onKeysRemoved: (kids) => removed.push([...kids].sort()) })
    await ks.setUri(JWKS_URI)
    assert.deepEqual(removed, [])
    await ks.refresh()
    assert.deepEqual(removed, [])
    issuer.setJwks(jwks(KEYS.k2, KEYS.ec))
    await ks.refresh()
    assert.deepEqual(removed, [['k1']])
    issuer.failJwks = true
    await ks.refresh()
    assert.deepEqual(removed, [['k1']])
    issuer.failJwks = false
    issuer.setJwks(jwks(KEYS.k1))
    await ks.refresh()
    assert.deepEqual(removed, [['k1'], ['k-ec', 'k2']])
  })

  it('nothing is fetched before setUri', async () => {
    const issuer = fakeIssuer()
    ks = createKeySet({ fetchJson: issuer.fetchJson, cooldownMs: 1, maxAgeMs: 60_000 })
    assert.equal(await ks.refreshForUnknownKid('k1'), 'failed')
    assert.equal(await ks.refresh(), false)
    assert.equal(issuer.calls.length, 0)
  })
})

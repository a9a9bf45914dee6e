import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { describe, it } from 'node:test'
import { createAuthenticator, tokenHash, type Authenticated, type AuthenticatorOptions } from '../../../src/auth/authenticator.js'
import { createClaimMapper } from '../../../src/claims/map.js'
import { KubegateError } from '../../../src/errors.js'
import type { VerifiedToken } from '../../../src/oidc/verifier.js'

const T0 = 1_750_000_000_000
const T0_SEC = T0 / 1000
const ISSUER = 'https://issuer.test/dex'

type Verdict = Record<string, unknown> | KubegateError

interface Fake {
  verify: (token: string) => Promise<VerifiedToken>
  calls: string[]
  verdicts: Map<string, Verdict>
  /** When set, verify waits for it. */
  gate: Promise<void> | undefined
}

function fakeVerifier (): Fake {
  const f: Fake = {
    calls: [],
    verdicts: new Map(),
    gate: undefined,
    async verify (token) {
      f.calls.push(token)
      if (f.gate !== undefined) await f.gate
      const v = f.verdicts.get(token)
      if (v === undefined) throw new KubegateError('KG_ERR_BAD_TOKEN', 'unknown test token', { failure: 'bad_signature' })
      if (v instanceof KubegateError) throw v
      return { payload: v, exp: v.exp as number, kid: typeof v.kid === 'string' ? v.kid : 'k1' }
    },
  }
  return f
}

function claims (over: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, aud: 'kubegate', sub: 'sub-1', email: 'alice@example.com', email_verified: true, groups: ['dev'], iat: T0_SEC, exp: T0_SEC + 3600, ...over }
}

const mapClaims = createClaimMapper({
  issuerUrl: ISSUER,
  usernameClaim: 'email',
  groupsClaim: 'groups',
  requiredClaims: {},
  allowReservedIdentities: false,
  maxGroups: 256,
})

function setup (over: Partial<AuthenticatorOptions> = {}): { auth: ReturnType<typeof createAuthenticator>, fake: Fake, clock: { t: number } } {
  const fake = fakeVerifier()
  const clock = { t: T0 }
  const auth = createAuthenticator({
    verifier: fake,
    mapClaims,
    maxEntries: 100,
    maxTtlSeconds: 300,
    negativeTtlSeconds: 30,
    negativeMaxEntries: 100,
    now: () => clock.t,
    ...over,
  })
  return { auth, fake, clock }
}

function isThenable (x: unknown): boolean {
  return typeof x === 'object' && x !== null && typeof (x as { then?: unknown }).then === 'function'
}

async function settle (fn: () => Authenticated | Promise<Authenticated>): Promise<Authenticated | KubegateError> {
  try {
    return await fn()
  } catch (err) {
    assert.ok(err instanceof KubegateError, String(err))
    return err
  }
}

describe('authenticator: positive cache', () => {
  it('first use verifies (Promise); a hit is synchronous (not a Promise) with the same result', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t1', claims())
    const first = auth.authenticate('t1')
    assert.ok(isThenable(first))
    const a = await first
    const hit = auth.authenticate('t1')
    assert.ok(!isThenable(hit))
    assert.equal(hit, a)
    assert.equal(fake.calls.length, 1)
    assert.deepEqual(auth.stats, { hits: 1, misses: 1, negativeHits: 0 })
  })

  it('cached: the positive cache alone, never a verification and never the negative cache', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t1', claims())
    assert.equal(auth.cached('t1'), undefined)
    assert.equal(auth.cached('bad'), undefined)
    assert.equal(fake.calls.length, 0, 'cached() never verifies')
    const a = await auth.authenticate('t1')
    await settle(() => auth.authenticate('bad'))
    assert.equal(auth.cached('t1'), a)
    assert.equal(auth.cached('bad'), undefined, 'a negative verdict is not answered by cached()')
    assert.deepEqual(auth.stats, { hits: 1, misses: 2, negativeHits: 0 })
  })

  it('result carries identity, impersonation headers, and the token hash (never the token)', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('secret-token', claims({ groups: ['dev', 'ops'] }))
    const a = await auth.authenticate('secret-token')
    assert.equal(a.identity.user, 'alice@example.com')
    assert.deepEqual(a.identity.groups, ['dev', 'ops'])
    assert.deepEqual([...a.headers], ['Impersonate-User', 'alice@example.com', 'Impersonate-Group', 'dev', 'Impersonate-Group', 'ops'])
    assert.equal(a.tokenHash, createHash('sha256').update('secret-token').digest('base64url'))
    assert.equal(a.tokenHash, tokenHash('secret-token'))
    assert.ok(!JSON.stringify(a).includes('secret-token'))
  })

  it('an entry expires at exp (injected time)', async () => {
    const { auth, fake, clock } = setup()
    fake.verdicts.set('t', claims({ exp: T0_SEC + 100 }))
    await auth.authenticate('t')
    clock.t = T0 + 99_999
    assert.ok(!isThenable(auth.authenticate('t')))
    clock.t = T0 + 100_000
    assert.ok(isThenable(auth.authenticate('t')))
    assert.equal(fake.calls.length, 2)
  })

  it('maxTtl caps the lifetime of a long-lived token', async () => {
    const { auth, fake, clock } = setup({ maxTtlSeconds: 300 })
    fake.verdicts.set('t', claims({ exp: T0_SEC + 86400 }))
    await auth.authenticate('t')
    clock.t = T0 + 299_999
    assert.ok(!isThenable(auth.authenticate('t')))
    clock.t = T0 + 300_000
    const again = auth.authenticate('t')
    assert.ok(isThenable(again))
    await again
    assert.equal(fake.calls.length, 2)
  })

  it('LRU eviction at maxEntries', async () => {
    const { auth, fake } = setup({ maxEntries: 2 })
    for (const t of ['a', 'b', 'c']) fake.verdicts.set(t, claims({ email: `${t}@x` }))
    await auth.authenticate('a')
    await auth.authenticate('b')
    auth.authenticate('a') // a is now most recent
    await auth.authenticate('c') // evicts b
    assert.equal(auth.size, 2)
    assert.ok(!isThenable(auth.authenticate('a')))
    assert.ok(!isThenable(auth.authenticate('c')))
    assert.ok(isThenable(auth.authenticate('b')))
  })

  it('maxEntries 0 disables the positive cache', async () => {
    const { auth, fake } = setup({ maxEntries: 0 })
    fake.verdicts.set('t', claims())
    await auth.authenticate('t')
    await auth.authenticate('t')
    assert.equal(fake.calls.length, 2)
    assert.equal(auth.size, 0)
  })

  it('single flight: 10 concurrent first uses -> verify called once, all get the same identity', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims())
    let release: () => void = () => {}
    fake.gate = new Promise((resolve) => { release = resolve })
    const ps = Array.from({ length: 10 }, () => auth.authenticate('t'))
    release()
    const rs = await Promise.all(ps)
    assert.equal(fake.calls.length, 1)
    assert.ok(rs.every((r) => r === rs[0]))
  })

  it('single flight also for failures: 10 concurrent -> one verify, all rejected', async () => {
    const { auth, fake } = setup()
    let release: () => void = () => {}
    fake.gate = new Promise((resolve) => { release = resolve })
    const ps = Array.from({ length: 10 }, () => settle(() => auth.authenticate('bad')))
    release()
    const rs = await Promise.all(ps)
    assert.equal(fake.calls.length, 1)
    assert.ok(rs.every((r) => r instanceof KubegateError && r.statusCode === 401))
  })

  it('records the key that verified the token, so entries can be evicted when the issuer unpublishes it', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('a', claims({ kid: 'old' }))
    fake.verdicts.set('b', claims({ kid: 'new' }))
    assert.equal((await auth.authenticate('a')).keyId, 'old')
    assert.equal((await auth.authenticate('b')).keyId, 'new')
    assert.equal(auth.evict((x) => x.keyId === 'old'), 1)
    assert.ok(isThenable(auth.authenticate('a')))
    assert.ok(!isThenable(auth.authenticate('b')))
  })

  it('evict by predicate drops matching entries only', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('a1', claims({ email: 'alice@x' }))
    fake.verdicts.set('a2', claims({ email: 'alice@x', iat: T0_SEC - 10 }))
    fake.verdicts.set('b1', claims({ email: 'bob@x' }))
    for (const t of ['a1', 'a2', 'b1']) await auth.authenticate(t)
    assert.equal(auth.evict((a) => a.identity.user === 'alice@x'), 2)
    assert.equal(auth.size, 1)
    assert.ok(isThenable(auth.authenticate('a1')))
    assert.ok(!isThenable(auth.authenticate('b1')))
    assert.equal(auth.evict((a) => a.tokenHash === tokenHash('b1')), 1)
  })

  it('clear empties both caches', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims())
    await auth.authenticate('t')
    await settle(() => auth.authenticate('bad'))
    auth.clear()
    assert.equal(auth.size, 0)
    assert.ok(isThenable(auth.authenticate('t')))
    await settle(() => auth.authenticate('bad'))
    assert.equal(fake.calls.filter((c) => c === 'bad').length, 2)
  })
})

describe('authenticator: negative cache', () => {
  it('a bad token is verified once within the TTL (replay throws synchronously), again after', async () => {
    const { auth, fake, clock } = setup({ negativeTtlSeconds: 30 })
    const e1 = await settle(() => auth.authenticate('bad'))
    assert.ok(e1 instanceof KubegateError && e1.statusCode === 401)
    assert.throws(() => auth.authenticate('bad'), (e: unknown) => e instanceof KubegateError && e.statusCode === 401)
    clock.t = T0 + 29_999
    assert.throws(() => auth.authenticate('bad'), KubegateError)
    assert.equal(fake.calls.length, 1)
    assert.equal(auth.stats.negativeHits, 2)
    clock.t = T0 + 30_000
    await settle(() => auth.authenticate('bad'))
    assert.equal(fake.calls.length, 2)
  })

  it('bad claims (401 from mapping) are negatively cached too', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims({ email_verified: false }))
    const e = await settle(() => auth.authenticate('t'))
    assert.ok(e instanceof KubegateError && e.code === 'KG_ERR_BAD_CLAIMS')
    assert.throws(() => auth.authenticate('t'), KubegateError)
    assert.equal(fake.calls.length, 1)
  })

  it('expired tokens are 401 KG_ERR_TOKEN_EXPIRED', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', new KubegateError('KG_ERR_TOKEN_EXPIRED', undefined, { failure: 'expired' }))
    const e = await settle(() => auth.authenticate('t'))
    assert.ok(e instanceof KubegateError && e.statusCode === 401 && e.code === 'KG_ERR_TOKEN_EXPIRED')
  })

  it('negativeTtl 0 disables the negative cache', async () => {
    const { auth, fake } = setup({ negativeTtlSeconds: 0 })
    await settle(() => auth.authenticate('bad'))
    await settle(() => auth.authenticate('bad'))
    assert.equal(fake.calls.length, 2)
  })

  const notCached: Array<[string, KubegateError]> = [
    ['unknown_kid (401)', new KubegateError('KG_ERR_BAD_TOKEN', undefined, { failure: 'unknown_kid' })],
    ['issuer unavailable (503)', new KubegateError('KG_ERR_ISSUER_UNAVAILABLE', undefined, { failure: 'issuer_unavailable', retryAfter: 5 })],
    ['verifier busy (503)', new KubegateError('KG_ERR_VERIFIER_BUSY', undefined, { failure: 'busy', retryAfter: 1 })],
  ]
  for (const [name, err] of notCached) {
    it(`${name} is not negatively cached`, async () => {
      const { auth, fake } = setup()
      fake.verdicts.set('t', err)
      const e1 = await settle(() => auth.authenticate('t'))
      assert.equal(e1, err)
      const second = auth.authenticate('t')
      assert.ok(isThenable(second))
      await settle(() => second)
      assert.equal(fake.calls.length, 2)
      // and once the issuer is back, the token is accepted
      fake.verdicts.set('t', claims())
      assert.equal((await auth.authenticate('t')).identity.user, 'alice@example.com')
    })
  }

  it('a non-Kubegate error from the verifier becomes KG_ERR_INTERNAL and is not cached', async () => {
    const { auth } = setup({ verifier: { verify: async () => { throw new Error('boom') } } })
    const e = await settle(() => auth.authenticate('t'))
    assert.ok(e instanceof KubegateError && e.code === 'KG_ERR_INTERNAL')
    const again = (() => { try { return auth.authenticate('t') } catch { return undefined } })()
    assert.ok(isThenable(again), 'a non-token failure must not be negatively cached')
    await settle(() => again as Promise<Authenticated>)
  })
})

describe('authenticator: transient failures never stick', () => {
  // verifyAndMap deletes its in-flight entry in `finally`; when verify() throws before returning a promise,
  // that `finally` runs before authenticate() stores the promise, so the rejected promise stays in the
  // in-flight map forever and every later use of the token gets the stale 503.
  it('a verifier that throws synchronously (503) does not poison later attempts for the token', async () => {
    let busy = true
    const { auth } = setup({
      verifier: {
        verify: (t: string) => {
          if (busy) throw new KubegateError('KG_ERR_VERIFIER_BUSY', undefined, { failure: 'busy' })
          return Promise.resolve({ payload: claims({ t }), exp: T0_SEC + 3600, kid: 'k1' })
        },
      },
    })
    const e = await settle(() => auth.authenticate('t'))
    assert.ok(e instanceof KubegateError && e.code === 'KG_ERR_VERIFIER_BUSY')
    busy = false
    const r = await settle(() => auth.authenticate('t'))
    assert.ok(!(r instanceof KubegateError), r instanceof KubegateError ? r.code : '')
    assert.equal(r.identity.user, 'alice@example.com')
  })
})

describe('authenticator: end to end with the real claim mapper', () => {
  it('a valid Dex-shaped token maps to user and groups', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims({ groups: ['dev', 'dev', 'グループ'] }))
    const a = await auth.authenticate('t')
    assert.deepEqual(a.identity.groups, ['dev', 'グループ'])
    assert.deepEqual(Buffer.from(a.headers[5] as string, 'latin1'), Buffer.from('グループ', 'utf8'))
  })

  it('a group named 開発チーム (UTF-8 ending in byte 0xA0) authenticates rather than failing with 500', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims({ groups: ['開発チーム'] }))
    const r = await settle(() => auth.authenticate('t'))
    assert.ok(!(r instanceof KubegateError), r instanceof KubegateError ? `${r.code}: ${String(r.detail)}` : '')
    assert.deepEqual(r.identity.groups, ['開発チーム'])
  })

  it('a padded group is a 401, never a 500', async () => {
    const { auth, fake } = setup()
    fake.verdicts.set('t', claims({ groups: ['dev '] }))
    const r = await settle(() => auth.authenticate('t'))
    assert.ok(r instanceof KubegateError)
    assert.equal(r.statusCode, 401, `${r.code}: ${String(r.detail)}`)
  })
})

/**
 * JWKS resilience against the real test issuer over HTTPS (what the unit tests of key-set.ts cannot show):
 * rotation, a storm of unknown kids, the issuer down, oversize / stalled / redirecting key sets.
 */
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Agent, request } from 'undici'
import { createIssuerHttp } from '../../../src/oidc/http-client.js'
import { KubegateError } from '../../../src/errors.js'
import { startStack, type Stack } from '../../helpers/stack.js'

async function get (s: Stack, token: string): Promise<number> {
  const dispatcher = new Agent({ connect: { ca: s.issuer.caPem } })
  try {
    const res = await request(`${s.kg.url}/api/v1/namespaces/user01/pods`, { dispatcher, headers: { authorization: `Bearer ${token}` } })
    await res.body.dump()
    return res.statusCode
  } finally {
    await dispatcher.close()
  }
}

describe('JWKS resilience (test issuer over HTTPS)', () => {
  let s: Stack
  before(async () => {
    s = await startStack({ config: { oidc: { jwksRefreshCooldownSeconds: 1 }, log: { level: 'warn' } } })
  })
  after(async () => { await s.close() })

  it('rotation: a token signed with a new key verifies after one refetch; the old key keeps working while published', async () => {
    const oldToken = await s.issuer.token({ email: 'user01@example.com' })
    assert.equal(await get(s, oldToken), 200)
    await new Promise((resolve) => setTimeout(resolve, 1100)) // past the 1 s cooldown of the start-up fetch
    const before = s.issuer.jwksFetches
    const newKid = await s.issuer.rotate()
    const newToken = await s.issuer.token({ email: 'user01@example.com', sub: 'rotated' })
    assert.equal(JSON.parse(Buffer.from(newToken.split('.')[0] as string, 'base64url').toString()).kid, newKid)
    assert.equal(await get(s, newToken), 200)
    assert.equal(s.issuer.jwksFetches - before, 1, 'exactly one refetch for the new kid')
    assert.equal(await get(s, await s.issuer.token({ email: 'user01@example.com', sub: 'old-key' }, { kid: oldKidOf(oldToken) })), 200)
  })

  it('a storm of 1,000 unknown kids costs at most one JWKS fetch per cooldown and is refused 401', async () => {
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const before = s.issuer.jwksFetches
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
      s.issuer.token({ email: 'user01@example.com', sub: `storm-${i}` }, { kid: randomBytes(8).toString('hex') })))
    const t0 = Date.now()
    const results = await Promise.allSettled(tokens.map(async (t) => s.kg.authenticator.authenticate(t)))
    const elapsedCooldowns = Math.ceil((Date.now() - t0) / 1000)
    for (const r of results) {
      assert.equal(r.status, 'rejected')
      const e = (r as PromiseRejectedResult).reason as KubegateError
      assert.equal(e.statusCode, 401)
      assert.equal(e.failure, 'unknown_kid')
    }
    const fetches = s.issuer.jwksFetches - before
    assert.ok(fetches >= 1, 'the first unknown kid after the cooldown refetches')
    assert.ok(fetches <= elapsedCooldowns, `${fetches} fetches in ${elapsedCooldowns} cooldown period(s)`)
  })

  it('issuer down: new tokens with a known kid still verify on the cached keys, and the proxy stays ready', async () => {
    s.issuer.setJwksMode('fail')
    s.issuer.setDiscoveryMode('fail')
    try {
      await s.kg.verifier.refreshKeys()
      assert.match(s.kg.verifier.status().lastError ?? '', /HTTP 500/)
      assert.equal(await get(s, await s.issuer.token({ email: 'user01@example.com', sub: 'while-down' })), 200)
      assert.equal(s.kg.isReady(), true)
    } finally {
      s.issuer.setJwksMode('ok')
      s.issuer.setDiscoveryMode('ok')
    }
  })

  it('an oversize key set is aborted and the last good keys keep serving', async () => {
    s.issuer.setJwksMode('huge')
    try {
      await s.kg.verifier.refreshKeys()
      assert.match(s.kg.verifier.status().lastError ?? '', /exceeds/)
      assert.ok(s.kg.verifier.status().jwksKeys >= 1)
      assert.equal(await get(s, await s.issuer.token({ email: 'user01@example.com', sub: 'after-huge' })), 200)
    } finally {
      s.issuer.setJwksMode('ok')
    }
  })

  it('a stalled key set is aborted at the time bound', async () => {
    s.issuer.setJwksMode('stall')
    const http = createIssuerHttp({ ca: s.issuer.caPem, timeoutMs: 400 })
    try {
      const t0 = Date.now()
      await assert.rejects(http.fetchJson(`${s.issuer.url}/keys`))
      const took = Date.now() - t0
      assert.ok(took >= 350 && took < 3000, `aborted after ${took} ms`)
    } finally {
      s.issuer.setJwksMode('ok')
      await http.close()
    }
  })

  it('a redirecting key set is refused, never followed', async () => {
    s.issuer.setJwksMode('redirect')
    s.issuer.resetCounters()
    try {
      await s.kg.verifier.refreshKeys()
      assert.match(s.kg.verifier.status().lastError ?? '', /HTTP 302/)
      assert.equal(s.issuer.redirectFetches, 0, 'the Location was fetched')
      assert.ok(s.issuer.jwksFetches >= 1)
      // Still serving with the last good keys.
      assert.equal(await get(s, await s.issuer.token({ email: 'user01@example.com', sub: 'after-redirect' })), 200)
    } finally {
      s.issuer.setJwksMode('ok')
    }
  })
})

function oldKidOf (token: string): string {
  return JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()).kid as string
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { createRevocationList, type Revocation } from '../../../src/shared-state/revocations.js'
import { createMemoryStore } from '../../../src/store/memory.js'
import type { Store } from '../../../src/store/types.js'

const logger = pino({ level: 'silent' })

function auth (user: string, iat: number | undefined, tokenHash = 'h'.repeat(43), sub = 'sub-' + user): Authenticated {
  return { identity: { user, groups: [], uid: undefined, sub, exp: 0, iat }, headers: [], tokenHash, keyId: 'k' }
}

async function setup (opts: { store?: Store, now?: () => number } = {}) {
  const store = opts.store ?? createMemoryStore()
  const revoked: Revocation[] = []
  const list = createRevocationList({
    store, logger, maxTokenLifetimeSeconds: 3600, clockSkewSeconds: 60, resyncSeconds: 10, maxStalenessSeconds: 30,
    onRevoked: (r) => revoked.push(r), now: opts.now,
  })
  assert.equal(await list.start(), true)
  return { store, list, revoked }
}

describe('revocation list', () => {
  it('covers tokens issued up to the revocation plus skew, and tokens without iat', async () => {
    let t = 1_700_000_000_000
    const { list, revoked } = await setup({ now: () => t })
    const rec = await list.add({ kind: 'user', value: 'alice', by: 'admin' })
    assert.equal(revoked.length, 1)
    assert.equal(rec.expiresAt - rec.revokedAt, (3600 + 120) * 1000)
    const s = t / 1000
    assert.equal(list.check(auth('alice', s - 100))?.code, 'KG_ERR_REVOKED')
    assert.equal(list.check(auth('alice', s + 60))?.code, 'KG_ERR_REVOKED', 'issuer clock up to skew ahead')
    assert.equal(list.check(auth('alice', undefined))?.code, 'KG_ERR_REVOKED')
    assert.equal(list.check(auth('alice', s + 61)), undefined, 'issued after the revocation')
    assert.equal(list.check(auth('bob', s - 100)), undefined)
    assert.equal(list.check(auth('Alice', s - 100)), undefined, 'exact match, no case folding')
    t += (3600 + 120) * 1000 + 1
    await list.resync()
    assert.equal(list.check(auth('alice', s - 100)), undefined, 'expired with the last token it could cover')
    assert.deepEqual(list.list(), [])
  })

  it('revokes by sub and by token hash', async () => {
    const { list } = await setup()
    const now = Date.now() / 1000
    await list.add({ kind: 'sub', value: 'S1', by: 'a' })
    await list.add({ kind: 'token', value: 'x'.repeat(43), by: 'a' })
    assert.equal(list.check(auth('u', now, 'y'.repeat(43), 'S1'))?.code, 'KG_ERR_REVOKED')
    assert.equal(list.check(auth('u', now + 3600, 'x'.repeat(43), 'S2'))?.code, 'KG_ERR_REVOKED', 'a revoked token whatever its iat')
    assert.equal(list.check(auth('u', now, 'y'.repeat(43), 'S2')), undefined)
    await assert.rejects(list.add({ kind: 'token', value: 'short', by: 'a' }), RangeError)
  })

  it('learns from another replica by message, and from a resync what a message missed', async () => {
    const store = createMemoryStore()
    const a = await setup({ store })
    const b = await setup({ store })
    await a.list.add({ kind: 'user', value: 'carol', by: 'x' })
    await new Promise((r) => setImmediate(r))
    assert.equal(b.list.check(auth('carol', 1))?.code, 'KG_ERR_REVOKED')
    assert.equal(b.revoked.length, 1, 'B ended what the revocation covers')
    // Written behind B's back (a lost message): the next resync finds it and still ends sessions.
    await store.set('rev:user:manual', JSON.stringify({ kind: 'user', value: 'dave', revokedAt: Date.now(), expiresAt: Date.now() + 60_000, by: 'x' }), 60_000)
    assert.equal(b.list.check(auth('dave', 1)), undefined)
    await b.list.resync()
    assert.equal(b.list.check(auth('dave', 1))?.code, 'KG_ERR_REVOKED')
    assert.equal(b.revoked.at(-1)?.value, 'dave')
    assert.equal(await a.list.remove('user', 'carol'), true)
    await new Promise((r) => setImmediate(r))
    assert.equal(b.list.check(auth('carol', 1)), undefined)
  })

  it('fails closed once the list is unconfirmed for longer than the bound', async () => {
    let t = Date.now()
    const store = createMemoryStore({ now: () => t })
    const { list } = await setup({ store, now: () => t })
    assert.equal(list.check(auth('x', 1)), undefined)
    t += 30_001
    assert.equal(list.check(auth('x', 1))?.code, 'KG_ERR_STATE_UNAVAILABLE')
    assert.equal(list.status().stale, true)
    await list.resync()
    assert.equal(list.check(auth('x', 1)), undefined)
  })

  it('ignores malformed store records and messages', async () => {
    const store = createMemoryStore()
    await store.set('rev:user:bad', '{"kind":"user","value":""}', 60_000)
    await store.set('rev:user:bad2', 'not json', 60_000)
    const { list } = await setup({ store })
    assert.deepEqual(list.list(), [])
    await store.publish('revocations', '{"op":"put","rec":{"kind":"root"}}')
    await store.publish('revocations', '}{')
    await new Promise((r) => setImmediate(r))
    assert.deepEqual(list.list(), [])
  })
})

// The revocation index: apply, delete with tombstones, merge a full read, evict the expired, find a token.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { RevocationIndex } from '../../../src/shared-state/revocation-index.js'
import type { Revocation } from '../../../src/shared-state/revocation-record.js'

const T = 1_700_000_000_000
const rec = (kind: Revocation['kind'], value: string, revokedAt = T, expiresAt = T + 60_000): Revocation =>
  ({ kind, value, revokedAt, expiresAt, by: 'admin' })
const auth = (user: string, iatSec: number | undefined, tokenHash = 'h', sub = 'sub-' + user): Authenticated =>
  ({ identity: { user, groups: [], uid: undefined, sub, exp: 0, iat: iatSec }, headers: [], tokenHash, keyId: 'k' })

describe('revocation index', () => {
  it('apply: new or newer records only, expired ones never', () => {
    const ix = new RevocationIndex(0)
    assert.equal(ix.apply('u:a', rec('user', 'a'), T), true)
    assert.equal(ix.apply('u:a', rec('user', 'a'), T), false, 'the same again')
    assert.equal(ix.apply('u:a', rec('user', 'a', T - 1), T), false, 'older')
    assert.equal(ix.apply('u:a', rec('user', 'a', T + 1), T), true, 'newer')
    assert.equal(ix.apply('u:b', rec('user', 'b', T, T), T), false, 'already expired')
    assert.equal(ix.size, 1)
  })

  it('find: by token hash whatever the iat, by user and sub up to revokedAt + skew', () => {
    const ix = new RevocationIndex(60_000)
    ix.apply('u', rec('user', 'alice'), T)
    ix.apply('s', rec('sub', 'S9'), T)
    ix.apply('t', rec('token', 'H'), T)
    assert.equal(ix.find(auth('alice', T / 1000 + 60), T)?.kind, 'user', 'within the skew')
    assert.equal(ix.find(auth('alice', T / 1000 + 61), T), undefined, 'after revokedAt + skew')
    assert.equal(ix.find(auth('alice', undefined), T)?.kind, 'user', 'no iat: covered')
    assert.equal(ix.find(auth('bob', T / 1000, 'h', 'S9'), T)?.kind, 'sub')
    assert.equal(ix.find(auth('bob', T / 1000 + 9999, 'H'), T)?.kind, 'token')
    assert.equal(ix.find(auth('bob', T / 1000), T), undefined)
    assert.equal(ix.find(auth('alice', T / 1000), T + 60_000), undefined, 'expired entries never match')
  })

  it('merge: a full read replaces the entries, but changes learnt during the read win', () => {
    const ix = new RevocationIndex(0)
    ix.apply('old', rec('user', 'old'), T)
    ix.apply('gone', rec('user', 'gone'), T)
    const startSeq = ix.seq
    // While the read is in flight: a newer record by message, and a deletion.
    ix.apply('msg', rec('user', 'msg'), T)
    ix.delete('gone')
    const fresh = ix.merge([['gone', rec('user', 'gone')], ['read', rec('user', 'read')], ['stale', rec('user', 'stale', T, T)]], startSeq, T)
    assert.deepEqual(fresh.map((r) => r.value), ['read'], 'only what is new here')
    assert.deepEqual(ix.entries().map(([k]) => k).sort(), ['msg', 'read'], 'old: not in the store any more; gone: deleted meanwhile; stale: expired')
    // The tombstone is dropped once a read that started after it has been merged.
    ix.merge([['gone', rec('user', 'gone', T + 5)]], ix.seq, T)
    assert.deepEqual(ix.entries().map(([k]) => k), ['gone'])
  })

  it('evict: drops expired entries', () => {
    const ix = new RevocationIndex(0)
    ix.apply('a', rec('user', 'a', T, T + 10), T)
    ix.apply('b', rec('user', 'b', T, T + 20), T)
    ix.evictExpired(T + 10)
    assert.deepEqual(ix.entries().map(([k]) => k), ['b'])
  })
})

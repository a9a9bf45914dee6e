import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Identity } from '../../../src/auth/identity.js'
import { createSessionRegistry } from '../../../src/server/sessions.js'

function id (user: string): Identity {
  return { user, groups: [], uid: undefined, sub: user, exp: 2_000_000_000, iat: undefined }
}

describe('session registry', () => {
  it('counts per kind and per user', () => {
    const r = createSessionRegistry()
    r.add('stream', id('alice'), 'h1', () => {})
    r.add('stream', id('alice'), 'h1', () => {})
    r.add('upgrade', id('alice'), 'h1', () => {})
    r.add('stream', id('bob'), 'h2', () => {})
    assert.equal(r.count('stream'), 3)
    assert.equal(r.count('upgrade'), 1)
    assert.equal(r.count('stream', 'alice'), 2)
    assert.equal(r.count('upgrade', 'alice'), 1)
    assert.equal(r.count('stream', 'bob'), 1)
    assert.equal(r.count('upgrade', 'bob'), 0)
    assert.equal(r.count('stream', 'nobody'), 0)
  })

  it('unregister is idempotent', () => {
    const r = createSessionRegistry()
    const un = r.add('upgrade', id('alice'), 'h', () => {})
    r.add('upgrade', id('alice'), 'h', () => {})
    un()
    un()
    un()
    assert.equal(r.count('upgrade', 'alice'), 1)
    assert.equal(r.count('upgrade'), 1)
  })

  it('unregistering the last session of a user resets its counters', () => {
    const r = createSessionRegistry()
    const a = r.add('stream', id('alice'), 'h', () => {})
    const b = r.add('upgrade', id('alice'), 'h', () => {})
    a()
    b()
    assert.equal(r.count('stream', 'alice'), 0)
    assert.equal(r.count('upgrade', 'alice'), 0)
    r.add('stream', id('alice'), 'h', () => {})
    assert.equal(r.count('stream', 'alice'), 1)
  })

  it('closeWhere closes only matching sessions and returns how many', () => {
    const r = createSessionRegistry()
    const closed: string[] = []
    const add = (kind: 'stream' | 'upgrade', user: string, hash: string): void => {
      const un = r.add(kind, id(user), hash, () => {
        closed.push(`${user}/${kind}/${hash}`)
        un()
      })
    }
    add('stream', 'alice', 't1')
    add('upgrade', 'alice', 't2')
    add('stream', 'bob', 't3')
    assert.equal(r.closeWhere((s) => s.identity.user === 'alice'), 2)
    assert.deepEqual(closed.sort(), ['alice/stream/t1', 'alice/upgrade/t2'])
    assert.equal(r.count('stream', 'alice'), 0)
    assert.equal(r.count('stream', 'bob'), 1)
    assert.equal(r.closeWhere((s) => s.tokenHash === 't3'), 1)
    assert.equal(r.count('stream'), 0)
    assert.equal(r.closeWhere(() => true), 0)
  })

  it('closeWhere sees session fields (id, kind, identity, tokenHash)', () => {
    const r = createSessionRegistry()
    r.add('upgrade', id('alice'), 'hash-a', () => {})
    const seen: Array<{ id: number, kind: string, user: string, tokenHash: string }> = []
    r.closeWhere((s) => {
      seen.push({ id: s.id, kind: s.kind, user: s.identity.user, tokenHash: s.tokenHash })
      return false
    })
    assert.equal(seen.length, 1)
    assert.equal(seen[0]?.kind, 'upgrade')
    assert.equal(seen[0]?.user, 'alice')
    assert.equal(seen[0]?.tokenHash, 'hash-a')
    assert.equal(typeof seen[0]?.id, 'number')
  })

  it('closeAll closes everything, even when close callbacks unregister during the loop', () => {
    const r = createSessionRegistry()
    let n = 0
    for (let i = 0; i < 5; i++) {
      const un = r.add(i % 2 === 0 ? 'stream' : 'upgrade', id(`u${i % 2}`), 'h', () => {
        n++
        un()
      })
    }
    assert.equal(r.closeAll(), 5)
    assert.equal(n, 5)
    assert.equal(r.count('stream'), 0)
    assert.equal(r.count('upgrade'), 0)
    assert.equal(r.closeAll(), 0)
  })
})

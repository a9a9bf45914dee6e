import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LruCache } from '../../../src/auth/token-cache.js'

function clock (start = 1_000_000): { now: () => number, advance: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms } }
}

describe('LruCache', () => {
  it('get returns what set stored until expiresAt (exclusive)', () => {
    const c = clock()
    const cache = new LruCache<string>(10, c.now)
    cache.set('k', 'v', c.now() + 1000)
    assert.equal(cache.get('k'), 'v')
    c.advance(999)
    assert.equal(cache.get('k'), 'v')
    c.advance(1)
    assert.equal(cache.get('k'), undefined)
    assert.equal(cache.size, 0)
  })

  it('does not store already-expired entries', () => {
    const c = clock()
    const cache = new LruCache<string>(10, c.now)
    cache.set('k', 'v', c.now())
    cache.set('j', 'v', c.now() - 1)
    assert.equal(cache.size, 0)
  })

  it('evicts the least recently used entry at maxEntries', () => {
    const c = clock()
    const cache = new LruCache<number>(3, c.now)
    const exp = c.now() + 60_000
    cache.set('a', 1, exp)
    cache.set('b', 2, exp)
    cache.set('c', 3, exp)
    assert.equal(cache.get('a'), 1) // a becomes most recent
    cache.set('d', 4, exp)
    assert.equal(cache.size, 3)
    assert.equal(cache.get('b'), undefined)
    assert.equal(cache.get('a'), 1)
    assert.equal(cache.get('c'), 3)
    assert.equal(cache.get('d'), 4)
  })

  it('re-setting a key refreshes it and does not grow the map', () => {
    const c = clock()
    const cache = new LruCache<number>(2, c.now)
    const exp = c.now() + 60_000
    cache.set('a', 1, exp)
    cache.set('b', 2, exp)
    cache.set('a', 10, exp)
    cache.set('c', 3, exp)
    assert.equal(cache.get('a'), 10)
    assert.equal(cache.get('b'), undefined)
  })

  it('maxEntries 0 disables storing', () => {
    const c = clock()
    const cache = new LruCache<number>(0, c.now)
    cache.set('a', 1, c.now() + 1000)
    assert.equal(cache.get('a'), undefined)
    assert.equal(cache.size, 0)
  })

  it('delete, deleteWhere and clear', () => {
    const c = clock()
    const cache = new LruCache<{ user: string }>(10, c.now)
    const exp = c.now() + 60_000
    cache.set('1', { user: 'alice' }, exp)
    cache.set('2', { user: 'bob' }, exp)
    cache.set('3', { user: 'alice' }, exp)
    assert.equal(cache.delete('2'), true)
    assert.equal(cache.delete('2'), false)
    assert.equal(cache.deleteWhere((v) => v.user === 'alice'), 2)
    assert.equal(cache.size, 0)
    cache.set('4', { user: 'carol' }, exp)
    assert.equal(cache.deleteWhere((_v, k) => k === '4'), 1)
    cache.set('5', { user: 'dave' }, exp)
    cache.clear()
    assert.equal(cache.size, 0)
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createMemoryLoginStateStore } from '../../../src/web/state-store.js'

describe('memory login state store', () => {
  it('expires entries after their TTL', async () => {
    let t = 1_000
    const s = createMemoryLoginStateStore({ now: () => t })
    await s.set('a', '1', 500)
    assert.equal(await s.get('a'), '1')
    t += 499
    assert.equal(await s.get('a'), '1')
    t += 1
    assert.equal(await s.get('a'), undefined)
    assert.equal(await s.take('a'), undefined)
  })

  it('take returns a value once', async () => {
    const s = createMemoryLoginStateStore()
    await s.set('k', 'v', 60_000)
    const [a, b] = await Promise.all([s.take('k'), s.take('k')])
    assert.deepEqual([a, b].sort(), ['v', undefined].sort())
    assert.equal(await s.get('k'), undefined)
  })

  it('is bounded: past the cap, expired entries go first, then the oldest', async () => {
    let t = 0
    const s = createMemoryLoginStateStore({ maxEntries: 3, now: () => t })
    await s.set('old', '1', 10)
    await s.set('b', '2', 1000)
    await s.set('c', '3', 1000)
    t = 20 // "old" has expired
    await s.set('d', '4', 1000)
    assert.equal(s.size, 3)
    assert.equal(await s.get('b'), '2')
    await s.set('e', '5', 1000) // nothing expired: the oldest live entry (b) is dropped
    assert.equal(s.size, 3)
    assert.equal(await s.get('b'), undefined)
    assert.deepEqual([await s.get('c'), await s.get('d'), await s.get('e')], ['3', '4', '5'])
    for (let i = 0; i < 1000; i++) await s.set(`k${i}`, 'x', 1000)
    assert.equal(s.size, 3)
  })

  it('delete removes', async () => {
    const s = createMemoryLoginStateStore()
    await s.set('k', 'v', 1000)
    await s.delete('k')
    assert.equal(await s.get('k'), undefined)
  })
})

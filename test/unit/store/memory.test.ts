// The memory store's own extras for the primary of server.workers: the sweep of what expired, the cap on logins in progress.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MemoryStore } from '../../../src/store/memory.js'

test('sweep drops expired keys and buckets that nothing reads again', async () => {
  let t = 1000
  const s = new MemoryStore({ now: () => t })
  await s.set('login:a', 'x', 100)
  await s.set('rev:user:b', 'y', 10_000)
  await s.lease([{ key: 'rl:u', want: 1 }], { ratePerSecond: 1, burst: 5, ttlMs: 100 })
  assert.equal(s.size, 3)
  t += 200
  assert.equal(s.sweep(), 2)
  assert.equal(s.size, 1)
  assert.equal(await s.get('rev:user:b'), 'y')
})

test('keys under the capped prefix are kept at most maxEntries, oldest set dropped first; other keys never', async () => {
  const s = new MemoryStore({ capped: { prefix: 'login:', maxEntries: 2 } })
  await s.set('rev:user:x', 'kept', 10_000)
  await s.set('login:1', 'a', 10_000)
  await s.set('login:2', 'b', 10_000)
  await s.set('login:1', 'a2', 10_000) // set again: now the newest
  await s.set('login:3', 'c', 10_000)
  assert.equal(await s.get('login:2'), undefined, 'the oldest went')
  assert.equal(await s.get('login:1'), 'a2')
  assert.equal(await s.take('login:3'), 'c')
  await s.set('login:4', 'd', 10_000)
  assert.equal(await s.get('login:1'), 'a2', 'a taken key no longer counts')
  assert.equal(await s.get('rev:user:x'), 'kept')
})

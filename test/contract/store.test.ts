/**
 * One contract for every store: the memory store, the workers' IPC store (over a fake channel pair to a host
 * on a memory store) and the Redis store against a real redis-server (started here on a free loopback port,
 * killed and restarted to test outages).
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createIpcStore } from '../../src/store/ipc.js'
import { StoreHost } from '../../src/store/ipc-host.js'
import { createMemoryStore } from '../../src/store/memory.js'
import { createRedisStore } from '../../src/store/redis.js'
import type { Store, StoreState } from '../../src/store/types.js'
import { ipcPair } from '../helpers/ipc-pair.js'
import { hasRedis, startRedis, type TestRedis } from '../helpers/redis.js'

async function waitFor (cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (cond()) return
    await sleep(10)
  }
  assert.fail(`timed out waiting for ${what}`)
}

interface Kind {
  name: string
  make: () => Promise<Store>
}

let redis: TestRedis | undefined
let seq = 0
const kinds: Kind[] = [
  { name: 'memory', make: async () => createMemoryStore() },
  {
    name: 'ipc',
    async make () {
      const pair = ipcPair()
      new StoreHost(createMemoryStore()).attach(pair.primary)
      return createIpcStore({ channel: pair.worker, commandTimeoutMs: 2000 })
    },
  },
]
if (hasRedis()) {
  kinds.push({
    name: 'redis',
    async make () {
      const s = createRedisStore({ url: (redis as TestRedis).url, keyPrefix: `t${++seq}:`, commandTimeoutMs: 500 })
      await waitFor(() => s.state === 'up', 5000, 'redis store up')
      return s
    },
  })
}

before(async () => {
  if (hasRedis()) redis = await startRedis()
})
after(async () => {
  await redis?.close()
})

for (const kind of kinds) {
  describe(`store contract: ${kind.name}`, () => {
    let store: Store
    before(async () => { store = await kind.make() })
    after(async () => { await store.close() })

    it('is up', () => {
      assert.equal(store.state, 'up')
      assert.equal(store.kind, kind.name)
    })

    it('gets, sets, deletes', async () => {
      assert.equal(await store.get('kv:a'), undefined)
      await store.set('kv:a', 'one', 10_000)
      assert.equal(await store.get('kv:a'), 'one')
      await store.set('kv:a', 'two', 10_000)
      assert.equal(await store.get('kv:a'), 'two')
      assert.equal(await store.delete('kv:a'), true)
      assert.equal(await store.delete('kv:a'), false)
      assert.equal(await store.get('kv:a'), undefined)
    })

    it('takes a value exactly once, even under concurrency', async () => {
      await store.set('kv:once', 'state', 10_000)
      const takers = await Promise.all(Array.from({ length: 20 }, () => store.take('kv:once')))
      assert.deepEqual(takers.filter((v) => v !== undefined), ['state'])
      assert.equal(await store.get('kv:once'), undefined)
      assert.equal(await store.take('kv:missing'), undefined)
    })

    it('expires keys after their ttl', async () => {
      await store.set('ttl:a', 'x', 150)
      await store.set('ttl:b', 'y', 10_000)
      assert.equal(await store.get('ttl:a'), 'x')
      await sleep(300)
      assert.equal(await store.get('ttl:a'), undefined)
      assert.deepEqual(await store.list('ttl:'), [['ttl:b', 'y']])
    })

    it('lists by literal prefix (glob characters are not patterns)', async () => {
      await store.set('ls:*:1', 'star', 10_000)
      await store.set('ls:a:1', 'a1', 10_000)
      await store.set('ls:a:2', 'a2', 10_000)
      await store.set('lsx', 'other', 10_000)
      const all = (await store.list('ls:')).sort()
      assert.deepEqual(all, [['ls:*:1', 'star'], ['ls:a:1', 'a1'], ['ls:a:2', 'a2']])
      assert.deepEqual(await store.list('ls:*'), [['ls:*:1', 'star']])
      assert.deepEqual(await store.list('nothing:'), [])
    })

    it('counts atomically under concurrency', async () => {
      const results = await Promise.all(Array.from({ length: 100 }, () => store.incr('ctr', 1, 10_000)))
      assert.equal(Math.max(...results), 100)
      assert.equal(new Set(results).size, 100, 'every increment saw a distinct value')
      assert.equal(await store.incr('ctr', 5, 10_000), 105)
      await store.incr('ctr-short', 1, 150)
      await sleep(300)
      assert.equal(await store.incr('ctr-short', 1, 150), 1, 'the counter expired')
    })

    it('refills leased buckets over time, never above the burst', async () => {
      const policy = { ratePerSecond: 10, burst: 5, ttlMs: 10_000 }
      const [a] = await store.lease([{ key: 'r:x', want: 5 }], policy)
      assert.equal(a?.granted, 5)
      await sleep(250)
      // At least 250 ms have passed (2.5 tokens at 10/s); a slow machine only lets more refill, up to the burst.
      const [b] = await store.lease([{ key: 'r:x', want: 10 }], policy)
      assert.ok(b !== undefined && b.granted >= 2 && b.granted <= 5, `2 to 5 refilled, got ${b?.granted}`)
    })

    it('leases whole tokens, never more than the bucket holds', async () => {
      const policy = { ratePerSecond: 0.001, burst: 5, ttlMs: 10_000 }
      const [a, other] = await store.lease([{ key: 'l:x', want: 3 }, { key: 'l:y', want: 0 }], policy)
      assert.equal(a?.granted, 3)
      assert.ok(a !== undefined && a.left >= 2 && a.left < 2.01, `2 left, got ${a?.left}`)
      assert.deepEqual(other?.granted, 0, 'a want of 0 is a read')
      assert.ok(other !== undefined && other.left >= 5 - 1e-9, 'another key has its own, full bucket')
      const [b] = await store.lease([{ key: 'l:x', want: 10 }], policy)
      assert.equal(b?.granted, 2, 'only the whole tokens there are')
      assert.ok(b !== undefined && b.left >= 0 && b.left < 0.01, `about 0 left, got ${b?.left}`)
      const [c] = await store.lease([{ key: 'l:x', want: 1 }], policy)
      assert.equal(c?.granted, 0, 'an empty bucket grants nothing and does not go below zero')
    })

    it('debits what was spent without a lease: below zero, never below -burst, repaid by the refill', async () => {
      const policy = { ratePerSecond: 0.001, burst: 5, ttlMs: 10_000 }
      const [a] = await store.lease([{ key: 'd:x', want: 1, spent: 3 }], policy)
      assert.equal(a?.granted, 1, '5 - 3 = 2 whole tokens, 1 asked for')
      assert.ok(a !== undefined && a.left >= 1 && a.left < 1.01, `1 left, got ${a?.left}`)
      const [b] = await store.lease([{ key: 'd:x', want: 2, spent: 3 }], policy)
      assert.equal(b?.granted, 0, 'nothing while in debt')
      assert.ok(b !== undefined && b.left >= -2 && b.left < -1.99, `-2 left, got ${b?.left}`)
      const [c] = await store.lease([{ key: 'd:x', want: 0, spent: 100 }], policy)
      assert.ok(c !== undefined && c.left >= -5 && c.left < -4.99, `never below -burst, got ${c?.left}`)
    })

    it('debits what was spent from the refill before capping it at the burst (it used that refill)', async () => {
      const policy = { ratePerSecond: 10, burst: 5, ttlMs: 10_000 }
      const [a] = await store.lease([{ key: 'd:r', want: 5 }], policy)
      assert.equal(a?.granted, 5)
      await sleep(600)
      // At least 6 tokens refilled (capped at 5 on their own); 3 admitted elsewhere meanwhile come off the 6.
      const [b] = await store.lease([{ key: 'd:r', want: 0, spent: 3 }], policy)
      assert.ok(b !== undefined && b.left >= 3 && b.left <= 5, `3 to 5 left, got ${b?.left}`)
    })

    it('grants each token once under concurrent leases', async () => {
      const policy = { ratePerSecond: 0.001, burst: 50, ttlMs: 10_000 }
      const grants = await Promise.all(Array.from({ length: 40 }, () => store.lease([{ key: 'l:shared', want: 2 }], policy)))
      const total = grants.reduce((n, [g]) => n + (g?.granted ?? 0), 0)
      assert.equal(total, 50, 'exactly the burst, however the 40 callers interleave')
    })

    it('counts live members with heartbeats', async () => {
      assert.equal(await store.heartbeat('hb', 'r1', 10_000), 1)
      assert.equal(await store.heartbeat('hb', 'r2', 200), 2)
      assert.equal(await store.heartbeat('hb', 'r1', 10_000), 2)
      await sleep(350)
      assert.equal(await store.heartbeat('hb', 'r1', 10_000), 1, 'r2 expired')
    })

    it('publishes to subscribers, and stops after unsubscribe', async () => {
      const got: string[] = []
      const got2: string[] = []
      const unsub = await store.subscribe('ch', (m) => got.push(m))
      const unsub2 = await store.subscribe('ch', (m) => got2.push(m))
      await store.publish('ch', 'hello')
      await store.publish('other', 'nope')
      await waitFor(() => got.length === 1 && got2.length === 1, 2000, 'message')
      assert.deepEqual(got, ['hello'])
      await unsub()
      await store.publish('ch', 'again')
      await waitFor(() => got2.length === 2, 2000, 'second message')
      await sleep(50)
      assert.deepEqual(got, ['hello'])
      assert.deepEqual(got2, ['hello', 'again'])
      await unsub2()
    })
  })
}

describe('store contract: redis only', { skip: !hasRedis() }, () => {
  it('isolates deployments by key prefix (keys and channels)', async () => {
    const r = redis as TestRedis
    const a = createRedisStore({ url: r.url, keyPrefix: 'depA:', commandTimeoutMs: 500 })
    const b = createRedisStore({ url: r.url, keyPrefix: 'depB:', commandTimeoutMs: 500 })
    try {
      await waitFor(() => a.state === 'up' && b.state === 'up', 5000, 'stores up')
      await a.set('k', 'a', 10_000)
      assert.equal(await b.get('k'), undefined)
      assert.deepEqual(await b.list(''), [])
      const seen: string[] = []
      await b.subscribe('ch', (m) => seen.push(m))
      await a.publish('ch', 'from a')
      await sleep(100)
      assert.deepEqual(seen, [])
    } finally {
      await a.close()
      await b.close()
    }
  })

  it('fails fast while redis is down, reports it, and recovers with its subscriptions', async () => {
    const r = redis as TestRedis
    const s = createRedisStore({ url: r.url, keyPrefix: 'outage:', commandTimeoutMs: 300 })
    const states: StoreState[] = []
    s.onStateChange((st) => states.push(st))
    const got: string[] = []
    try {
      await waitFor(() => s.state === 'up', 5000, 'store up')
      await s.subscribe('ch', (m) => got.push(m))
      await s.set('k', 'v', 60_000)
      await r.kill()
      await waitFor(() => s.state === 'down', 3000, 'store down')
      for (const op of [() => s.get('k'), () => s.set('k', 'x', 1000), () => s.lease([{ key: 'b', want: 1 }], { ratePerSecond: 1, burst: 1, ttlMs: 1000 })]) {
        const t0 = performance.now()
        await assert.rejects(op())
        assert.ok(performance.now() - t0 < 400, 'no command waits for a reconnect')
      }
      await r.restart()
      await waitFor(() => s.state === 'up', 5000, 'store up again')
      assert.deepEqual(states, ['up', 'down', 'up'])
      assert.equal(await s.get('k'), undefined, 'the restarted server kept nothing')
      // The subscription was restored before `up` was announced.
      const other = createRedisStore({ url: r.url, keyPrefix: 'outage:', commandTimeoutMs: 300 })
      await waitFor(() => other.state === 'up', 5000, 'publisher up')
      await other.publish('ch', 'after restart')
      await other.close()
      await waitFor(() => got.length === 1, 2000, 'message after restart')
      assert.deepEqual(got, ['after restart'])
    } finally {
      await s.close()
    }
  })
})

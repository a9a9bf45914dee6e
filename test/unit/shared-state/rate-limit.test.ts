// The rate limiter: local buckets, leases from a shared bucket (and their bound), the local share when degraded.
import assert from 'node:assert/strict'
import { hash } from 'node:crypto'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { LEASE_CREDIT, leaseSize } from '../../../src/shared-state/lease.js'
import { createRateLimiter, type RateLimiter } from '../../../src/shared-state/rate-limit.js'
import { createMemoryStore } from '../../../src/store/memory.js'
import { storeMethods } from '../../helpers/store-methods.js'
import type { Store, StoreState } from '../../../src/store/types.js'

const logger = pino({ level: 'silent' })
const who = (user: string, groups: string[] = []): Authenticated =>
  ({ identity: { user, groups, uid: undefined, sub: user, exp: 0, iat: 0 }, headers: [], tokenHash: user, keyId: 'k' })

describe('rate limiter', () => {
  it('local token bucket: burst, then 429 with Retry-After, then refill', () => {
    let t = 1000
    const rl = createRateLimiter({
      store: createMemoryStore(), logger, requestsPerSecond: 2, burst: 3, maxLongRunning: 0, exemptGroups: ['staff'],
      syncMs: 100, sessions: { count: () => 0 }, instanceId: 'i', now: () => t,
    })
    const ctx = { longRunning: false }
    for (let i = 0; i < 3; i++) assert.equal(rl.check(who('a'), ctx), undefined)
    const e = rl.check(who('a'), ctx)
    assert.equal(e?.code, 'KG_ERR_RATE_LIMITED')
    assert.equal(e?.retryAfter, 1)
    assert.equal(rl.check(who('b'), ctx), undefined, 'per identity')
    for (let i = 0; i < 50; i++) assert.equal(rl.check(who('c', ['x', 'staff']), ctx), undefined)
    t += 500
    assert.equal(rl.check(who('a'), ctx), undefined, 'one token refilled in 0.5 s at 2/s')
    assert.equal(rl.check(who('a'), ctx)?.code, 'KG_ERR_RATE_LIMITED')
    assert.equal(rl.status().mode, 'local')
  })

  it('caps long-running requests per user with the session count', () => {
    const open = new Map([['a', 2]])
    const rl = createRateLimiter({
      store: createMemoryStore(), logger, requestsPerSecond: 0, burst: 1, maxLongRunning: 2, exemptGroups: [],
      syncMs: 100, sessions: { count: (kind, user) => kind === 'stream' ? open.get(user ?? '') ?? 0 : 0 }, instanceId: 'i',
    })
    assert.equal(rl.check(who('a'), { longRunning: true })?.code, 'KG_ERR_TOO_MANY_STREAMS')
    assert.equal(rl.check(who('a'), { longRunning: false }), undefined)
    assert.equal(rl.check(who('b'), { longRunning: true }), undefined)
    assert.equal(rl.status().mode, 'off')
  })

  it('shared: admits from leases taken from the store; store down: enforces the local share, charged back', async () => {
    let t = 1_000_000
    const mem = createMemoryStore({ now: () => t })
    let state: StoreState = 'up'
    const listeners: Array<(s: StoreState) => void> = []
    // A Redis-kind store over the memory implementation, whose reachability the test controls.
    const store: Store = {
      ...storeMethods(mem),
      kind: 'redis',
      get state () { return state },
      lease: async (r, p) => { if (state !== 'up') throw new Error('down'); return await mem.lease(r, p) },
      heartbeat: async () => 4,
      onStateChange: (l) => { listeners.push(l); return () => undefined },
    }
    const rl = createRateLimiter({
      store, logger, requestsPerSecond: 1, burst: 8, maxLongRunning: 0, exemptGroups: [], syncMs: 1000,
      sessions: { count: () => 0 }, instanceId: 'i', now: () => t,
    })
    rl.start()
    try {
      await new Promise((r) => setTimeout(r, 20))
      assert.equal(rl.status().replicas, 4)
      // Another replica leased 7 of 8.
      await mem.lease([{ key: 'rl:' + hash('sha256', 'a', 'base64url'), want: 7 }], { ratePerSecond: 1, burst: 8, ttlMs: 60_000 })
      assert.equal(rl.check(who('a'), { longRunning: false }), undefined, 'first request: on credit')
      await rl.sync()
      const refused = rl.check(who('a'), { longRunning: false })
      assert.equal(refused?.code, 'KG_ERR_RATE_LIMITED', 'the store had one token left, which repaid the credit')
      assert.equal(refused?.retryAfter, 1)
      assert.equal(rl.status().mode, 'shared')
      state = 'down'
      for (const l of listeners) l('down')
      await rl.sync()
      assert.equal(rl.status().mode, 'local-share')
      const b = who('fresh')
      assert.equal(rl.check(b, { longRunning: false })?.code, 'KG_ERR_RATE_LIMITED', 'no fresh burst: the others may have spent it')
      t += 8000 // the share refills from the moment Redis was lost: 1/s over 4 replicas, up to 8 / 4
      assert.equal(rl.check(b, { longRunning: false }), undefined)
      assert.equal(rl.check(b, { longRunning: false }), undefined)
      assert.equal(rl.check(b, { longRunning: false })?.code, 'KG_ERR_RATE_LIMITED', 'burst 8 shared by 4 replicas: 2 here')
      assert.equal(rl.status().localAdmitted, 2)
      assert.equal(rl.status().uncharged, 2)
      state = 'up'
      for (const l of listeners) l('up')
      await rl.sync()
      assert.equal(rl.status().mode, 'shared')
      assert.equal(rl.status().uncharged, 0)
      const [level] = await mem.lease([{ key: 'rl:' + hash('sha256', 'fresh', 'base64url'), want: 0 }], { ratePerSecond: 1, burst: 8, ttlMs: 60_000 })
      assert.equal(level?.left, 4, 'a full bucket (8), less the 2 admitted on the share, less a lease of 2')
    } finally {
      rl.close()
    }
  })

  it('shared: a replica tops its lease up ahead of need, without a request waiting', async () => {
    const mem = createMemoryStore()
    const rl = createRateLimiter({
      store: { ...storeMethods(mem), kind: 'redis', get state () { return 'up' as const }, heartbeat: async () => 1 },
      logger, requestsPerSecond: 0.001, burst: 40, maxLongRunning: 0, exemptGroups: [], syncMs: 60_000,
      sessions: { count: () => 0 }, instanceId: 'i',
    })
    const ctx = { longRunning: false }
    try {
      let admitted = 0
      // Sequential requests with the event loop turning between them, as over HTTP: never refused while the
      // shared bucket has tokens, and exactly the burst in all (nothing refills at 0.001/s).
      for (let i = 0; i < 60; i++) {
        if (rl.check(who('a'), ctx) === undefined) admitted++
        await new Promise((r) => setImmediate(r))
        await rl.sync()
      }
      assert.equal(admitted, 40)
    } finally {
      rl.close()
    }
  })
})

describe('rate limiter: a stalled store', () => {
  it('a top-up unanswered beyond max(100 ms, syncMs) switches to the local share, from the unspent lease', async () => {
    let t = 1_000_000
    const mem = createMemoryStore({ now: () => t })
    let release: () => void = () => undefined
    let stall = false
    const store: Store = {
      ...storeMethods(mem),
      kind: 'redis',
      get state () { return 'up' as const },
      heartbeat: async () => 2,
      lease: async (r, p) => {
        if (stall) await new Promise<void>((resolve) => { release = resolve })
        return await mem.lease(r, p)
      },
    }
    const rl = createRateLimiter({
      store, logger, requestsPerSecond: 10, burst: 100, maxLongRunning: 0, exemptGroups: [], syncMs: 50,
      sessions: { count: () => 0 }, instanceId: 'i', now: () => t,
    })
    const ctx = { longRunning: false }
    try {
      assert.equal(rl.check(who('a'), ctx), undefined, 'credit')
      await rl.sync()
      // The lease (5) is full again; spend down to half and let the top-up stall.
      stall = true
      for (let i = 0; i < 3; i++) assert.equal(rl.check(who('a'), ctx), undefined)
      const pending = rl.sync()
      t += 100
      assert.equal(rl.status().mode, 'shared', 'not yet: 100 ms')
      assert.equal(rl.check(who('a'), ctx), undefined, 'the lease still holds tokens')
      t += 1
      assert.equal(rl.status().mode, 'local-share')
      // The local bucket starts with the one token left in the lease; nothing refills at the same instant.
      assert.equal(rl.check(who('a'), ctx), undefined)
      assert.equal(rl.check(who('a'), ctx)?.code, 'KG_ERR_RATE_LIMITED', 'no fresh burst for a slow answer')
      t += 200 // the share of the rate: 10/s over 2 replicas, one token per 200 ms
      assert.equal(rl.check(who('a'), ctx), undefined)
      stall = false
      release()
      await pending
      assert.equal(rl.status().mode, 'shared')
    } finally {
      rl.close()
    }
  })
})

describe('rate limiter: the shared bound', () => {
  /** A seeded generator, so that a failure can be replayed. */
  function random (seed: number): () => number {
    let x = seed
    return () => {
      x = (x * 1103515245 + 12345) % 2147483648
      return x / 2147483648
    }
  }

  // Replicas over one bucket, the clock and the interleaving of requests and store answers driven by the test:
  // whatever the order, admissions over the run stay within burst + rate × t + replicas × (lease + credit).
  for (const replicas of [2, 3, 5]) {
    it(`${replicas} replicas, burst 20, 5/s: admitted <= burst + rate × t + replicas × (lease + ${LEASE_CREDIT})`, async () => {
      for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
        let t = 1_000_000
        const rnd = random(seed)
        const mem = createMemoryStore({ now: () => t })
        const limiters: RateLimiter[] = Array.from({ length: replicas }, (_, i) => createRateLimiter({
          store: { ...storeMethods(mem), kind: 'redis', get state () { return 'up' as const }, heartbeat: async () => replicas },
          logger, requestsPerSecond: 5, burst: 20, maxLongRunning: 0, exemptGroups: [], syncMs: 60_000,
          sessions: { count: () => 0 }, instanceId: String(i), now: () => t,
        }))
        const start = t
        let admitted = 0
        const pending: Array<Promise<void>> = []
        for (let i = 0; i < 400; i++) {
          const rl = limiters[Math.floor(rnd() * replicas)] as RateLimiter
          if (rl.check(who('u'), { longRunning: false }) === undefined) admitted++
          if (rnd() < 0.3) pending.push(rl.sync())
          if (rnd() < 0.2) await Promise.all(pending.splice(0))
          if (rnd() < 0.1) await new Promise((r) => setImmediate(r))
          t += Math.floor(rnd() * 10)
        }
        await Promise.all(pending)
        for (const rl of limiters) rl.close()
        const bound = 20 + 5 * (t - start) / 1000 + replicas * (leaseSize(20) + LEASE_CREDIT)
        assert.ok(admitted <= bound, `seed ${seed}: admitted ${admitted} > bound ${bound.toFixed(1)}`)
        assert.ok(admitted >= 20, `seed ${seed}: admitted only ${admitted}`)
      }
    })
  }
})

/**
 * Replicas over one memory store standing in for Redis, whose answers the test holds (`slow`: each lease is
 * answered, and executed, only when the test releases it) or refuses (`down`: a command timeout, as ioredis
 * reports one on a stalled server), with the clock driven by the test.
 */
function slowRedis (now: () => number, replicas: number) {
  const mem = createMemoryStore({ now })
  let mode: 'up' | 'slow' | 'down' = 'up'
  let held: Array<() => void> = []
  const store: Store = {
    ...storeMethods(mem),
    kind: 'redis',
    get state () { return mode === 'down' ? 'down' as const : 'up' as const },
    heartbeat: async () => replicas,
    lease: async (r, p) => {
      if (mode === 'slow') await new Promise<void>((resolve) => held.push(resolve))
      if (mode === 'down') throw new Error('Command timed out')
      return await mem.lease(r, p)
    },
  }
  return {
    mem,
    store,
    set (m: 'up' | 'slow' | 'down'): void {
      mode = m
      if (m === 'slow') return
      for (const release of held) release()
      held = []
    },
  }
}

describe('rate limiter: a slow or unreachable Redis', () => {
  const ctx = { longRunning: false }
  const turn = async (): Promise<void> => { await new Promise((r) => setImmediate(r)) }

  it('stalls and command timeouts never turn into admissions beyond burst + rate × t + replicas × (lease + 1)', async () => {
    let t = 1_000_000
    const redis = slowRedis(() => t, 2)
    const limiters = [0, 1].map((i) => createRateLimiter({
      store: redis.store, logger, requestsPerSecond: 5, burst: 20, maxLongRunning: 0, exemptGroups: [], syncMs: 100,
      sessions: { count: () => 0 }, instanceId: String(i), now: () => t,
    }))
    for (const rl of limiters) rl.start()
    await turn()
    const start = t
    let admitted = 0
    try {
      // 240 requests alternating, 2 ms apart: answered at once, then every answer held for 120 ms (the stall
      // rule applies after 100), answered again; then, 20 ms apart, every command timing out for 1.2 s (each
      // replica's share refills 3 tokens meanwhile); answered again.
      for (let i = 0; i < 240; i++) {
        if (i === 30) redis.set('slow')
        if (i === 90) redis.set('up')
        if (i === 120) redis.set('down')
        if (i === 180) redis.set('up')
        if (limiters[i % 2]!.check(who('u'), ctx) === undefined) admitted++
        await turn()
        t += i >= 120 && i < 180 ? 20 : 2
      }
      // The window ends once every replica has been answered (what it admitted on its share is charged back).
      for (const rl of limiters) await rl.sync()
      const bound = 20 + 5 * (t - start) / 1000 + 2 * (leaseSize(20) + LEASE_CREDIT)
      assert.ok(admitted <= bound, `admitted ${admitted} > bound ${bound.toFixed(1)}`)
      assert.ok(admitted >= 20, `admitted only ${admitted}`)
      assert.ok(limiters.every((rl) => rl.status().localAdmitted > 0), 'both admitted on their share')
      assert.ok(limiters.every((rl) => rl.status().uncharged === 0), 'all charged back')
    } finally {
      for (const rl of limiters) rl.close()
    }
  })

  it('each loss of Redis starts the share from nothing, not from what was left of the last one', async () => {
    let t = 1_000_000
    const redis = slowRedis(() => t, 2)
    const rl = createRateLimiter({
      store: redis.store, logger, requestsPerSecond: 5, burst: 20, maxLongRunning: 0, exemptGroups: [], syncMs: 100,
      sessions: { count: () => 0 }, instanceId: 'a', now: () => t,
    })
    rl.start()
    try {
      await turn()
      redis.set('down')
      await rl.sync()
      t += 4000
      assert.equal(rl.check(who('u'), ctx), undefined, 'the share, full 4 s after Redis was lost')
      redis.set('up')
      await rl.sync()
      assert.equal(rl.status().uncharged, 0)
      redis.set('down') // lost again at once, before u sends anything while shared
      await rl.sync()
      assert.equal(rl.check(who('u'), ctx), undefined, 'the lease granted with the charge-back (2)')
      assert.equal(rl.check(who('u'), ctx), undefined)
      assert.equal(rl.check(who('u'), ctx)?.code, 'KG_ERR_RATE_LIMITED', 'the 9 tokens left of the last share are gone')
    } finally {
      rl.close()
    }
  })

  it('charges the share back: the shared level goes below zero and Retry-After counts the debt', async () => {
    let t = 1_000_000
    const redis = slowRedis(() => t, 2)
    const policy = { ratePerSecond: 5, burst: 20, ttlMs: 60_000 }
    const key = 'rl:' + hash('sha256', 'u', 'base64url')
    const rl = createRateLimiter({
      store: redis.store, logger, requestsPerSecond: 5, burst: 20, maxLongRunning: 0, exemptGroups: [], syncMs: 100,
      sessions: { count: () => 0 }, instanceId: 'a', now: () => t,
    })
    rl.start()
    try {
      await turn()
      assert.equal(rl.status().replicas, 2)
      assert.equal(rl.check(who('u'), ctx), undefined, 'credit')
      await rl.sync()
      redis.set('down')
      await rl.sync()
      t += 4000 // the share (10 of the burst, 2.5/s) is full again 4 s after Redis was lost
      let admitted = 0
      while (rl.check(who('u'), ctx) === undefined) admitted++
      assert.equal(admitted, 2 + 10, 'the lease left (2), then the share (10)')
      // Meanwhile another replica, which still reached Redis, spent the whole bucket.
      await redis.mem.lease([{ key, want: 20 }], policy)
      redis.set('up')
      await rl.sync()
      const refused = rl.check(who('u'), ctx)
      assert.equal(refused?.code, 'KG_ERR_RATE_LIMITED')
      assert.equal(refused?.retryAfter, Math.ceil((1 + 10) / 5), 'the shared bucket owes the 10 admitted on the share')
      const [level] = await redis.mem.lease([{ key, want: 0 }], policy)
      assert.equal(level?.left, -10)
    } finally {
      rl.close()
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import pino from 'pino'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { createRateLimiter } from '../../../src/shared-state/rate-limit.js'
import { createMemoryStore } from '../../../src/store/memory.js'
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

  it('shared: takes the store level back; store down: enforces the local share', async () => {
    const mem = createMemoryStore()
    let state: StoreState = 'up'
    const listeners: Array<(s: StoreState) => void> = []
    // A Redis-kind store over the memory implementation, whose reachability the test controls.
    const store: Store = {
      ...mem,
      kind: 'redis',
      get state () { return state },
      consume: async (d, p) => { if (state !== 'up') throw new Error('down'); return await mem.consume(d, p) },
      heartbeat: async () => 4,
      onStateChange: (l) => { listeners.push(l); return () => undefined },
    }
    const rl = createRateLimiter({
      store, logger, requestsPerSecond: 1, burst: 8, maxLongRunning: 0, exemptGroups: [], syncMs: 1000,
      sessions: { count: () => 0 }, instanceId: 'i',
    })
    rl.start()
    try {
      await new Promise((r) => setTimeout(r, 20))
      assert.equal(rl.status().replicas, 4)
      // Another replica spent 7 of 8.
      await mem.consume([{ key: 'rl:' + (await import('node:crypto')).hash('sha256', 'a', 'base64url'), amount: 7 }], { ratePerSecond: 1, burst: 8, ttlMs: 60_000 })
      assert.equal(rl.check(who('a'), { longRunning: false }), undefined, 'first request: its share (8/4 = 2)')
      await rl.sync()
      assert.equal(rl.check(who('a'), { longRunning: false })?.code, 'KG_ERR_RATE_LIMITED', 'the store says the budget is spent')
      assert.equal(rl.status().mode, 'shared')
      state = 'down'
      for (const l of listeners) l('down')
      await rl.sync()
      assert.equal(rl.status().mode, 'local-share')
      const b = who('fresh')
      assert.equal(rl.check(b, { longRunning: false }), undefined)
      assert.equal(rl.check(b, { longRunning: false }), undefined)
      assert.equal(rl.check(b, { longRunning: false })?.code, 'KG_ERR_RATE_LIMITED', 'burst 8 shared by 4 replicas: 2 here')
    } finally {
      rl.close()
    }
  })
})

// The in-process store: shared-state primitives for a single replica (and the contract suite's reference).
import type { BucketPolicy, Store, StoreState } from './types.js'

export interface MemoryStoreOptions {
  readonly now?: () => number
}

interface Entry { value: string, expiresAt: number }

/**
 * The in-process store for a single replica. Same semantics as the Redis store (the contract suite runs
 * on both); messages are delivered asynchronously, as they would be over the network.
 */
export function createMemoryStore (options: MemoryStoreOptions = {}): Store {
  const now = options.now ?? Date.now
  const kv = new Map<string, Entry>()
  const buckets = new Map<string, { tokens: number, ts: number, expiresAt: number }>()
  const groups = new Map<string, Map<string, number>>()
  const channels = new Map<string, Set<(m: string) => void>>()
  const listeners = new Set<(s: StoreState) => void>()
  let closed = false

  const live = (key: string): Entry | undefined => {
    const e = kv.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now()) {
      kv.delete(key)
      return undefined
    }
    return e
  }
  /** The bucket at `key`, refilled up to time `t` (created full), its expiry renewed. */
  const refill = (key: string, policy: BucketPolicy, t: number): { tokens: number, ts: number, expiresAt: number } => {
    let b = buckets.get(key)
    if (b === undefined || b.expiresAt <= t) b = { tokens: policy.burst, ts: t, expiresAt: 0 }
    if (t > b.ts) b.tokens = Math.min(policy.burst, b.tokens + (t - b.ts) * policy.ratePerSecond / 1000)
    b.ts = Math.max(t, b.ts)
    b.expiresAt = t + ttl(policy.ttlMs)
    buckets.set(key, b)
    return b
  }
  const check = (): void => {
    if (closed) throw new Error('store closed')
  }
  const ttl = (ttlMs: number): number => {
    if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError('ttlMs must be a positive number')
    return Math.ceil(ttlMs)
  }

  return {
    kind: 'memory',
    get state () { return closed ? 'down' : 'up' },
    async get (key) {
      check()
      return live(key)?.value
    },
    async set (key, value, ttlMs) {
      check()
      kv.set(key, { value, expiresAt: now() + ttl(ttlMs) })
    },
    async take (key) {
      check()
      const v = live(key)?.value
      kv.delete(key)
      return v
    },
    async delete (key) {
      check()
      const existed = live(key) !== undefined
      kv.delete(key)
      return existed
    },
    async list (prefix) {
      check()
      const out: Array<[string, string]> = []
      for (const k of [...kv.keys()]) {
        if (!k.startsWith(prefix)) continue
        const e = live(k)
        if (e !== undefined) out.push([k, e.value])
      }
      return out
    },
    async incr (key, by, ttlMs) {
      check()
      if (!Number.isSafeInteger(by)) throw new RangeError('by must be an integer')
      const e = live(key)
      const n = (e === undefined ? 0 : Number(e.value)) + by
      kv.set(key, { value: String(n), expiresAt: now() + ttl(ttlMs) })
      return n
    },
    async consume (debits, policy: BucketPolicy) {
      check()
      const t = now()
      return debits.map((d) => {
        const b = refill(d.key, policy, t)
        b.tokens = Math.max(0, b.tokens - d.amount)
        return b.tokens
      })
    },
    async lease (requests, policy: BucketPolicy) {
      check()
      const t = now()
      return requests.map((r) => {
        const b = refill(r.key, policy, t)
        const granted = Math.max(0, Math.min(r.want, Math.floor(b.tokens)))
        b.tokens -= granted
        return { granted, left: b.tokens }
      })
    },
    async heartbeat (key, member, ttlMs) {
      check()
      const t = now()
      let g = groups.get(key)
      if (g === undefined) groups.set(key, g = new Map())
      g.set(member, t + ttl(ttlMs))
      for (const [m, exp] of g) if (exp <= t) g.delete(m)
      return g.size
    },
    async publish (channel, message) {
      check()
      const subs = channels.get(channel)
      if (subs === undefined) return
      for (const fn of [...subs]) queueMicrotask(() => fn(message))
    },
    async subscribe (channel, onMessage) {
      check()
      let subs = channels.get(channel)
      if (subs === undefined) channels.set(channel, subs = new Set())
      // A wrapper per subscription, so subscribing the same function twice gives two independent handles.
      const fn = (m: string): void => onMessage(m)
      subs.add(fn)
      return async () => { channels.get(channel)?.delete(fn) }
    },
    onStateChange (listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close () {
      if (closed) return
      closed = true
      kv.clear()
      buckets.clear()
      channels.clear()
      for (const l of listeners) l('down')
      listeners.clear()
    },
  }
}

// The in-process shared-state store for a single replica (the default), with the Redis store's semantics.
import type { BucketPolicy, LeaseGrant, LeaseRequest, Store, StoreState } from './types.js'

export interface MemoryStoreOptions {
  readonly now?: () => number
  /**
   * Keys under `prefix` are kept at most `maxEntries`; past it the oldest set is dropped. For what anyone may
   * create (logins in progress: `/login` is unauthenticated), never for what must not be lost (revocations).
   */
  readonly capped?: { readonly prefix: string, readonly maxEntries: number }
}

interface Entry { value: string, expiresAt: number }
interface Bucket { tokens: number, ts: number, expiresAt: number }

function ttl (ttlMs: number): number {
  if (!(ttlMs > 0) || !Number.isFinite(ttlMs)) throw new RangeError('ttlMs must be a positive number')
  return Math.ceil(ttlMs)
}

/**
 * Same semantics as the Redis store (the contract suite runs on both); messages are delivered
 * asynchronously, as they would be over the network. Every operation after `close()` throws.
 */
export class MemoryStore implements Store {
  readonly kind = 'memory' as const
  readonly #now: () => number
  readonly #kv = new Map<string, Entry>()
  readonly #buckets = new Map<string, Bucket>()
  readonly #groups = new Map<string, Map<string, number>>()
  readonly #channels = new Map<string, Set<(m: string) => void>>()
  readonly #listeners = new Set<(s: StoreState) => void>()
  readonly #capped: MemoryStoreOptions['capped']
  /** The capped keys, oldest set first. */
  readonly #cappedKeys = new Set<string>()
  #closed = false

  constructor (options: MemoryStoreOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#capped = options.capped
  }

  get state (): StoreState { return this.#closed ? 'down' : 'up' }

  async get (key: string): Promise<string | undefined> {
    this.#check()
    return this.#live(key)?.value
  }

  async set (key: string, value: string, ttlMs: number): Promise<void> {
    this.#check()
    this.#kv.set(key, { value, expiresAt: this.#now() + ttl(ttlMs) })
    this.#cap(key)
  }

  /**
   * Drops every expired key and bucket (reads drop them too, but nothing reads an abandoned login or an idle
   * user's bucket again); a long-lived store calls this periodically. Returns how many were dropped.
   */
  sweep (): number {
    const t = this.#now()
    let n = 0
    for (const [k, e] of this.#kv) {
      if (e.expiresAt <= t) {
        this.#drop(k)
        n++
      }
    }
    for (const [k, b] of this.#buckets) {
      if (b.expiresAt <= t) {
        this.#buckets.delete(k)
        n++
      }
    }
    return n
  }

  /** Entries and buckets held (for tests and the sweep's log). */
  get size (): number { return this.#kv.size + this.#buckets.size }

  async take (key: string): Promise<string | undefined> {
    this.#check()
    const v = this.#live(key)?.value
    this.#drop(key)
    return v
  }

  async delete (key: string): Promise<boolean> {
    this.#check()
    const existed = this.#live(key) !== undefined
    this.#drop(key)
    return existed
  }

  async list (prefix: string): Promise<Array<[string, string]>> {
    this.#check()
    const out: Array<[string, string]> = []
    for (const k of [...this.#kv.keys()]) {
      if (!k.startsWith(prefix)) continue
      const e = this.#live(k)
      if (e !== undefined) out.push([k, e.value])
    }
    return out
  }

  async incr (key: string, by: number, ttlMs: number): Promise<number> {
    this.#check()
    if (!Number.isSafeInteger(by)) throw new RangeError('by must be an integer')
    const e = this.#live(key)
    const n = (e === undefined ? 0 : Number(e.value)) + by
    this.#kv.set(key, { value: String(n), expiresAt: this.#now() + ttl(ttlMs) })
    return n
  }

  async lease (requests: readonly LeaseRequest[], policy: BucketPolicy): Promise<LeaseGrant[]> {
    this.#check()
    const t = this.#now()
    return requests.map((r) => {
      const b = this.#refill(r.key, policy, t, r.spent ?? 0)
      const granted = Math.max(0, Math.min(r.want, Math.floor(b.tokens)))
      b.tokens -= granted
      return { granted, left: b.tokens }
    })
  }

  /**
   * The bucket at `key`, refilled up to time `t` (created full) and debited `spent`, its expiry renewed. The
   * debit comes off the refill before the cap: what was admitted elsewhere meanwhile used that refill.
   */
  #refill (key: string, policy: BucketPolicy, t: number, spent: number): Bucket {
    let b = this.#buckets.get(key)
    if (b === undefined || b.expiresAt <= t) b = { tokens: policy.burst, ts: t, expiresAt: 0 }
    const refilled = t > b.ts ? b.tokens + (t - b.ts) * policy.ratePerSecond / 1000 : b.tokens
    b.tokens = Math.max(-policy.burst, Math.min(policy.burst, refilled - spent))
    b.ts = Math.max(t, b.ts)
    b.expiresAt = t + ttl(policy.ttlMs)
    this.#buckets.set(key, b)
    return b
  }

  async heartbeat (key: string, member: string, ttlMs: number): Promise<number> {
    this.#check()
    const t = this.#now()
    let g = this.#groups.get(key)
    if (g === undefined) this.#groups.set(key, g = new Map())
    g.set(member, t + ttl(ttlMs))
    for (const [m, exp] of g) if (exp <= t) g.delete(m)
    return g.size
  }

  async publish (channel: string, message: string): Promise<void> {
    this.#check()
    const subs = this.#channels.get(channel)
    if (subs === undefined) return
    for (const fn of [...subs]) queueMicrotask(() => fn(message))
  }

  async subscribe (channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.#check()
    let subs = this.#channels.get(channel)
    if (subs === undefined) this.#channels.set(channel, subs = new Set())
    // A wrapper per subscription, so subscribing the same function twice gives two independent handles.
    const fn = (m: string): void => onMessage(m)
    subs.add(fn)
    return async () => { this.#channels.get(channel)?.delete(fn) }
  }

  onStateChange (listener: (state: StoreState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#kv.clear()
    this.#cappedKeys.clear()
    this.#buckets.clear()
    this.#channels.clear()
    for (const l of this.#listeners) l('down')
    this.#listeners.clear()
  }

  #live (key: string): Entry | undefined {
    const e = this.#kv.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= this.#now()) {
      this.#drop(key)
      return undefined
    }
    return e
  }

  #drop (key: string): void {
    this.#kv.delete(key)
    this.#cappedKeys.delete(key)
  }

  /** A key just set under the capped prefix becomes the newest; past the cap the oldest goes. */
  #cap (key: string): void {
    const c = this.#capped
    if (c === undefined || !key.startsWith(c.prefix)) return
    this.#cappedKeys.delete(key)
    this.#cappedKeys.add(key)
    for (const oldest of this.#cappedKeys) {
      if (this.#cappedKeys.size <= c.maxEntries) break
      this.#drop(oldest)
    }
  }

  #check (): void {
    if (this.#closed) throw new Error('store closed')
  }
}

/** The in-process store; see MemoryStore. */
export function createMemoryStore (options: MemoryStoreOptions = {}): Store {
  return new MemoryStore(options)
}

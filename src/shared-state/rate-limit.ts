// Per-user request rate limits and the per-user cap on long-running requests: the synchronous admission.
import { hash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Authenticated } from '../auth/authenticator.js'
import { KubegateError } from '../errors.js'
import type { SessionRegistry } from '../server/sessions.js'
import type { BucketPolicy, Store } from '../store/types.js'
import { Lease, leaseSize } from './lease.js'
import { LocalBucket } from './local-bucket.js'

export interface RateLimiterOptions {
  /** A Redis (or the workers' IPC) store shares the budget between replicas; memory keeps it local. */
  readonly store: Store
  readonly logger: Logger
  /** 0: no request rate limit. */
  readonly requestsPerSecond: number
  readonly burst: number
  /** 0: no cap on concurrent long-running requests. */
  readonly maxLongRunning: number
  readonly exemptGroups: readonly string[]
  /** Period of the background top-up of leases that are low (tops-ups on demand do not wait for it). */
  readonly syncMs: number
  readonly sessions: Pick<SessionRegistry, 'count'>
  /** This replica's id in the live-replica count. */
  readonly instanceId: string
  readonly now?: () => number
  /** Bound on identities tracked at once (the oldest idle ones are dropped first). */
  readonly maxIdentities?: number
}

export type RateLimitMode = 'off' | 'local' | 'shared' | 'local-share'

export interface RateLimitStatus {
  /** `local-share`: Redis unreachable, each replica enforces 1/replicas of the budget. */
  readonly mode: RateLimitMode
  readonly identities: number
  readonly replicas: number
  readonly lastSyncAt: number | undefined
  readonly syncFailures: number
  readonly limited: number
  /** Requests admitted on the local share while the shared bucket was out of reach (each charged to it afterwards). */
  readonly localAdmitted: number
  /** Of those, the ones not yet charged to the shared bucket. */
  readonly uncharged: number
}

/** What this replica knows about one identity. */
interface Tracked {
  /** The shared bucket's key: the user name is hashed (arbitrary bytes, any length). */
  readonly key: string
  readonly lease: Lease
  /** The local bucket: the whole limit without Redis; this replica's share while Redis does not answer (dropped when it does). */
  local: LocalBucket | undefined
  /** The share's bucket was made for Redis lost at this moment (a later loss makes a new one, from nothing). */
  localFrom: number
  lastUsed: number
}

/** A top-up unanswered for longer than this (and syncMs) counts as a stalled store: the local share applies. */
const STALL_MS = 100
const HEARTBEAT_MS = 5000
const REPLICA_TTL_MS = 15_000
const TOO_MANY_STREAMS = new KubegateError('KG_ERR_TOO_MANY_STREAMS', undefined, { failure: 'too_many_streams', retryAfter: 5 })

function rateLimited (retryAfter: number): KubegateError {
  return new KubegateError('KG_ERR_RATE_LIMITED', undefined, { failure: 'rate_limited', retryAfter })
}

/**
 * Per-identity token buckets; every decision is local and synchronous. Without Redis, one local bucket per
 * identity (`burst`, refilled at `rate`). With Redis, the bucket lives in Redis and each replica admits only
 * by spending tokens it has already leased from it (see `Lease` for the bound), topping a lease up as soon as
 * it runs low, without making the request wait. While Redis does not answer (a top-up unanswered for longer
 * than max(100 ms, syncMs), or Redis unreachable) each replica first spends what it holds, then admits on its
 * share of the rate (divided by the last known replica count), refilled from the moment it lost Redis and
 * never more than its share of the burst; every request admitted on the share is charged to the shared bucket
 * with the next answer. The bound over all of this: docs/design.md, "Shared rate limit: leases".
 */
export class RateLimiter {
  readonly #o: RateLimiterOptions
  readonly #now: () => number
  readonly #shared: boolean
  readonly #exempt: Set<string>
  readonly #leaseSize: number
  readonly #policy: BucketPolicy
  readonly #tracked = new Map<string, Tracked>()
  #replicas = 1
  #lastSyncAt: number | undefined
  /** The last round with the store worked (or none was needed). */
  #syncOk: boolean
  #syncFailures = 0
  #limited = 0
  #localAdmitted = 0
  /** When the last round with the store failed or found it down (undefined while it works). */
  #lostAt: number | undefined
  #syncing: Promise<void> | undefined
  #syncStartedAt = 0
  #syncAgain = false
  #soon: NodeJS.Immediate | undefined
  #timers: NodeJS.Timeout[] = []

  constructor (o: RateLimiterOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#shared = o.store.kind !== 'memory'
    this.#syncOk = this.#shared
    this.#exempt = new Set(o.exemptGroups)
    this.#leaseSize = leaseSize(o.burst)
    const rate = Math.max(o.requestsPerSecond, 0.001)
    this.#policy = { ratePerSecond: o.requestsPerSecond, burst: o.burst, ttlMs: Math.ceil(o.burst / rate * 1000) + 60_000 }
  }

  /** The admission: synchronous, memory only. */
  check (auth: Authenticated, ctx: { longRunning: boolean }): KubegateError | undefined {
    const id = auth.identity
    if (this.#exempt.size > 0) {
      const g = id.groups
      for (let i = 0; i < g.length; i++) if (this.#exempt.has(g[i] as string)) return undefined
    }
    if (ctx.longRunning && this.#tooManyLongRunning(id.user)) {
      this.#limited++
      return TOO_MANY_STREAMS
    }
    if (this.#o.requestsPerSecond <= 0) return undefined
    return this.#take(id.user, this.#now())
  }

  status (): RateLimitStatus {
    return {
      mode: this.#o.requestsPerSecond <= 0 ? 'off' : !this.#shared ? 'local' : this.#isShared() ? 'shared' : 'local-share',
      identities: this.#tracked.size,
      replicas: this.#replicas,
      lastSyncAt: this.#lastSyncAt,
      syncFailures: this.#syncFailures,
      limited: this.#limited,
      localAdmitted: this.#localAdmitted,
      uncharged: this.#uncharged(),
    }
  }

  start (): void {
    if (this.#o.requestsPerSecond <= 0) return
    this.#every(5000, () => this.#evict(this.#now(), false))
    if (!this.#shared) return
    void this.#heartbeat()
    this.#every(HEARTBEAT_MS, () => { void this.#heartbeat() })
    this.#every(this.#o.syncMs, () => { void this.sync() })
    this.#o.store.onStateChange((s) => {
      if (s === 'up') {
        void this.#heartbeat()
        this.#syncSoon()
      } else {
        this.#setSyncOk(false)
      }
    })
  }

  /** One top-up round with the store now (also runs every syncMs, and as soon as a lease runs low). */
  sync (): Promise<void> {
    if (this.#syncing !== undefined) {
      this.#syncAgain = true
      return this.#syncing
    }
    this.#syncStartedAt = this.#now()
    this.#syncing = this.#syncOnce().finally(() => {
      this.#syncing = undefined
      if (this.#syncAgain) {
        this.#syncAgain = false
        this.#syncSoon()
      }
    })
    return this.#syncing
  }

  close (): void {
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    if (this.#soon !== undefined) clearImmediate(this.#soon)
  }

  #tooManyLongRunning (user: string): boolean {
    const max = this.#o.maxLongRunning
    return max > 0 && this.#o.sessions.count('stream', user) + this.#o.sessions.count('upgrade', user) >= max
  }

  /** Budget shared through the store right now: it is up, the last round worked and the current one is not stuck. */
  #isShared (): boolean {
    return this.#shared && this.#syncOk && this.#o.store.state === 'up' && !this.#stalled()
  }

  /** A stalled store (socket open, no answer) is down for the store only after its command timeout. */
  #stalled (): boolean {
    return this.#syncing !== undefined && this.#now() - this.#syncStartedAt > Math.max(STALL_MS, this.#o.syncMs)
  }

  #take (user: string, t: number): KubegateError | undefined {
    const entry = this.#track(user, t)
    entry.lastUsed = t
    let retryAfter: number
    if (this.#isShared()) {
      entry.local = undefined
      retryAfter = this.#takeLeased(entry)
    } else {
      retryAfter = this.#takeLocal(entry, t)
    }
    if (retryAfter === 0) return undefined
    this.#limited++
    return rateLimited(retryAfter)
  }

  /** Local take (no Redis: the whole limit, the bucket starts full): 0 when admitted, else the Retry-After. */
  #takeLocal (entry: Tracked, t: number): number {
    if (this.#shared) return this.#takeShare(entry, t)
    const rate = this.#o.requestsPerSecond
    entry.local ??= new LocalBucket(this.#o.burst, t)
    return entry.local.take(t, this.#o.burst, rate) ? 0 : entry.local.retryAfter(rate)
  }

  /**
   * Take while Redis does not answer: the tokens still leased first, then the share (burst and rate divided by
   * the replicas), which refills from the moment Redis was lost, never from a fresh burst (the others may have
   * spent it); each request admitted on the share is charged to the shared bucket with the next answer.
   */
  #takeShare (entry: Tracked, t: number): number {
    if (entry.lease.spendHeld()) return 0
    const n = this.#replicas
    const capacity = Math.max(1, this.#o.burst / n)
    const rate = this.#o.requestsPerSecond / n
    const from = this.#lostSince(t)
    if (entry.local === undefined || entry.localFrom !== from) {
      entry.local = new LocalBucket(Math.min(capacity, Math.max(0, t - from) * rate / 1000), t)
      entry.localFrom = from
    }
    if (!entry.local.take(t, capacity, rate)) return entry.local.retryAfter(rate)
    entry.lease.admittedLocally()
    this.#localAdmitted++
    return 0
  }

  /** Since when the shared bucket has been out of reach: the failed round, or the moment a top-up counted as stalled. */
  #lostSince (t: number): number {
    if (this.#syncOk && this.#o.store.state === 'up') return this.#syncStartedAt + Math.max(STALL_MS, this.#o.syncMs)
    this.#lostAt ??= t // the store went down and no round has noticed yet
    return this.#lostAt
  }

  #setSyncOk (ok: boolean): void {
    if (ok) this.#lostAt = undefined
    else this.#lostAt ??= this.#now()
    this.#syncOk = ok
  }

  #uncharged (): number {
    let n = 0
    for (const e of this.#tracked.values()) n += e.lease.uncharged
    return n
  }

  /** Shared take: spends from the lease, and asks for more as soon as it runs low. 0 when admitted. */
  #takeLeased (entry: Tracked): number {
    const ok = entry.lease.take()
    if (entry.lease.needsTopUp(this.#leaseSize) && !entry.lease.knownEmpty) this.#syncSoon()
    return ok ? 0 : entry.lease.retryAfter(this.#o.requestsPerSecond)
  }

  #track (user: string, t: number): Tracked {
    let entry = this.#tracked.get(user)
    if (entry === undefined) {
      if (this.#tracked.size >= (this.#o.maxIdentities ?? 100_000)) this.#evict(t, true)
      entry = { key: 'rl:' + hash('sha256', user, 'base64url'), lease: new Lease(), local: undefined, localFrom: 0, lastUsed: t }
      this.#tracked.set(user, entry)
    }
    return entry
  }

  /** Drops identities whose bucket would be full again (they cost nothing to re-create); never one that owes credit. */
  #evict (t: number, force: boolean): void {
    const fullAfterMs = this.#o.burst / Math.max(this.#o.requestsPerSecond, 0.001) * 1000
    for (const [user, e] of this.#tracked) {
      if (!e.lease.owes && !e.lease.asking && t - e.lastUsed > fullAfterMs + 1000) this.#tracked.delete(user)
    }
    if (!force || this.#tracked.size < (this.#o.maxIdentities ?? 100_000)) return
    // Still full: drop the least recently created idle entries (Map order is insertion order).
    let n = Math.ceil((this.#o.maxIdentities ?? 100_000) / 10)
    for (const [user, e] of this.#tracked) {
      if (n-- <= 0) break
      if (!e.lease.owes && !e.lease.asking) this.#tracked.delete(user)
    }
  }

  /** Sync: asks the store to top up every lease that is low and in use (or owes credit). */
  async #syncOnce (): Promise<void> {
    if (this.#o.store.state !== 'up') {
      this.#setSyncOk(false)
      return
    }
    const batch = this.#leasesToTopUp(this.#now())
    if (batch.length === 0) {
      this.#setSyncOk(true)
      return
    }
    const asks = batch.map((e) => ({ key: e.key, want: e.lease.ask(this.#leaseSize), spent: e.lease.charge() }))
    try {
      const grants = await this.#o.store.lease(asks, this.#policy)
      batch.forEach((e, i) => e.lease.settle(grants[i]?.granted ?? 0, grants[i]?.left ?? 0))
      this.#lastSyncAt = this.#now()
      if (!this.#syncOk) this.#o.logger.info('rate limits shared again')
      this.#setSyncOk(true)
    } catch (err) {
      for (const e of batch) e.lease.abandon()
      this.#syncFailures++
      if (this.#syncOk) this.#o.logger.warn({ err: (err as Error).message }, 'rate-limit sync failed; enforcing the local share')
      this.#setSyncOk(false)
    }
  }

  #leasesToTopUp (t: number): Tracked[] {
    const activeMs = Math.max(1000, this.#o.syncMs * 3)
    const out: Tracked[] = []
    for (const e of this.#tracked.values()) {
      if (e.lease.needsTopUp(this.#leaseSize) && (e.lease.owes || t - e.lastUsed < activeMs)) out.push(e)
    }
    return out
  }

  #syncSoon (): void {
    if (this.#soon !== undefined) return
    this.#soon = setImmediate(() => {
      this.#soon = undefined
      void this.sync()
    })
  }

  async #heartbeat (): Promise<void> {
    if (this.#o.store.state !== 'up') return
    try {
      this.#replicas = Math.max(1, await this.#o.store.heartbeat('replicas', this.#o.instanceId, REPLICA_TTL_MS))
    } catch {
      // Keep the last known count: it sizes the local share during the outage.
    }
  }

  #every (ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms)
    timer.unref()
    this.#timers.push(timer)
  }
}

export function createRateLimiter (o: RateLimiterOptions): RateLimiter {
  return new RateLimiter(o)
}

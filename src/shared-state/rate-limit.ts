import { hash } from 'node:crypto'
import type { Logger } from 'pino'
import type { Authenticated } from '../auth/authenticator.js'
import { KubegateError } from '../errors.js'
import type { SessionRegistry } from '../server/sessions.js'
import type { Store } from '../store/types.js'

export interface RateLimiterOptions {
  /** A Redis store shares the budget between replicas; memory (or none) keeps it local. */
  readonly store: Store
  readonly logger: Logger
  /** 0: no request rate limit. */
  readonly requestsPerSecond: number
  readonly burst: number
  /** 0: no cap on concurrent long-running requests. */
  readonly maxLongRunning: number
  readonly exemptGroups: readonly string[]
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
}

export interface RateLimiter {
  /** The admission: synchronous, memory only. */
  check: (auth: Authenticated, ctx: { longRunning: boolean }) => KubegateError | undefined
  status: () => RateLimitStatus
  start: () => void
  /** One report/read round with the store now (also runs every syncMs). */
  sync: () => Promise<void>
  close: () => void
}

interface Bucket {
  readonly key: string
  tokens: number
  /** Time of the last refill (ms). */
  last: number
  lastUsed: number
  /** Admitted here, not yet reported to the store. */
  pending: number
  /** Reported, answer not yet back. */
  inflight: number
  synced: boolean
}

const HEARTBEAT_MS = 5000
const REPLICA_TTL_MS = 15_000

/**
 * Per-identity token buckets. The decision is always local and synchronous; with Redis, each replica reports
 * what it admitted every `syncMs` (one atomic Lua call for all active identities) and takes back the global
 * bucket's level, so the budget is shared: between two syncs a replica can over-admit at most what refills in
 * that interval, and a replica that has never seen an identity starts it at its share (burst / replicas).
 * If Redis is unreachable each replica enforces its share of the rate and burst, with the last known replica
 * count, until Redis answers again.
 */
export function createRateLimiter (o: RateLimiterOptions): RateLimiter {
  const now = o.now ?? Date.now
  const shared = o.store.kind === 'redis'
  const exempt = new Set(o.exemptGroups)
  const rate = o.requestsPerSecond
  const burst = o.burst
  const maxIdentities = o.maxIdentities ?? 100_000
  const buckets = new Map<string, Bucket>()
  const policy = { ratePerSecond: rate, burst, ttlMs: Math.ceil(burst / Math.max(rate, 0.001) * 1000) + 60_000 }
  const STREAMS = new KubegateError('KG_ERR_TOO_MANY_STREAMS', undefined, { failure: 'too_many_streams', retryAfter: 5 })
  let replicas = 1
  let lastSyncAt: number | undefined
  let syncOk = shared
  let syncFailures = 0
  let limited = 0
  let syncing: Promise<void> | undefined
  let soon: NodeJS.Immediate | undefined
  let timers: NodeJS.Timeout[] = []

  /** Budget shared through the store right now. */
  const isShared = (): boolean => shared && syncOk && o.store.state === 'up'
  const capacity = (): number => isShared() || !shared ? burst : Math.max(1, burst / replicas)
  const refillRate = (): number => isShared() || !shared ? rate : rate / replicas

  const take = (user: string, t: number): KubegateError | undefined => {
    let b = buckets.get(user)
    const cap = capacity()
    const r = refillRate()
    if (b === undefined) {
      if (buckets.size >= maxIdentities) evict(t, true)
      // Until its first sync a replica spends only its share of an identity it has not seen.
      const start = shared ? Math.max(1, burst / replicas) : burst
      b = { key: 'rl:' + hash('sha256', user, 'base64url'), tokens: Math.min(cap, start), last: t, lastUsed: t, pending: 0, inflight: 0, synced: false }
      buckets.set(user, b)
      if (isShared()) syncSoon()
    } else if (t > b.last) {
      b.tokens = Math.min(cap, b.tokens + (t - b.last) * r / 1000)
      b.last = t
    } else if (b.tokens > cap) {
      b.tokens = cap
    }
    b.lastUsed = t
    if (b.tokens >= 1) {
      b.tokens -= 1
      b.pending++
      return undefined
    }
    limited++
    return new KubegateError('KG_ERR_RATE_LIMITED', undefined, {
      failure: 'rate_limited',
      retryAfter: Math.max(1, Math.ceil((1 - b.tokens) / Math.max(r, 0.001))),
    })
  }

  /** Drops identities whose bucket would be full again (they cost nothing to re-create). */
  function evict (t: number, force: boolean): void {
    const fullAfterMs = burst / Math.max(rate, 0.001) * 1000
    for (const [user, b] of buckets) {
      if (b.pending === 0 && b.inflight === 0 && t - b.lastUsed > fullAfterMs + 1000) buckets.delete(user)
    }
    if (force && buckets.size >= maxIdentities) {
      // Still full: drop the least recently created idle entries (Map order is insertion order).
      let n = Math.ceil(maxIdentities / 10)
      for (const [user, b] of buckets) {
        if (n-- <= 0) break
        if (b.inflight === 0) buckets.delete(user)
      }
    }
  }

  async function syncOnce (): Promise<void> {
    if (o.store.state !== 'up') {
      syncOk = false
      // Policed by the local share meanwhile (see the catch below).
      for (const b of buckets.values()) b.pending = 0
      return
    }
    const t = now()
    const activeMs = Math.max(1000, o.syncMs * 3)
    const batch: Bucket[] = []
    const amounts: number[] = []
    for (const b of buckets.values()) {
      if (b.pending > 0 || !b.synced || t - b.lastUsed < activeMs) {
        batch.push(b)
        amounts.push(b.pending)
        b.inflight = b.pending
        b.pending = 0
      }
    }
    if (batch.length === 0) {
      syncOk = true
      return
    }
    try {
      const left = await o.store.consume(batch.map((b, i) => ({ key: b.key, amount: amounts[i] as number })), policy)
      const back = now()
      for (let i = 0; i < batch.length; i++) {
        const b = batch[i] as Bucket
        // The store's level, minus what was admitted here while the answer was on its way.
        b.tokens = (left[i] as number) - b.pending
        b.last = back
        b.inflight = 0
        b.synced = true
      }
      lastSyncAt = back
      if (!syncOk) o.logger.info('rate limits shared again')
      syncOk = true
    } catch (err) {
      // Not reported later: while the store is unreachable each replica polices its own share, and charging
      // that usage to the shared bucket afterwards would punish users twice for the same requests.
      for (const b of batch) {
        b.inflight = 0
        b.pending = 0
      }
      syncFailures++
      if (syncOk) o.logger.warn({ err: (err as Error).message }, 'rate-limit sync failed; enforcing the local share')
      syncOk = false
    }
  }

  function sync (): Promise<void> {
    if (syncing !== undefined) return syncing
    syncing = syncOnce().finally(() => { syncing = undefined })
    return syncing
  }

  function syncSoon (): void {
    if (soon !== undefined) return
    soon = setImmediate(() => {
      soon = undefined
      void sync()
    })
  }

  async function heartbeat (): Promise<void> {
    if (o.store.state !== 'up') return
    try {
      replicas = Math.max(1, await o.store.heartbeat('replicas', o.instanceId, REPLICA_TTL_MS))
    } catch {
      // Keep the last known count: it sizes the local share during the outage.
    }
  }

  return {
    check (auth, ctx) {
      const id = auth.identity
      if (exempt.size > 0) {
        const g = id.groups
        for (let i = 0; i < g.length; i++) if (exempt.has(g[i] as string)) return undefined
      }
      if (ctx.longRunning && o.maxLongRunning > 0 &&
        o.sessions.count('stream', id.user) + o.sessions.count('upgrade', id.user) >= o.maxLongRunning) {
        limited++
        return STREAMS
      }
      if (rate <= 0) return undefined
      return take(id.user, now())
    },
    status () {
      return {
        mode: rate <= 0 ? 'off' : !shared ? 'local' : isShared() ? 'shared' : 'local-share',
        identities: buckets.size,
        replicas,
        lastSyncAt,
        syncFailures,
        limited,
      }
    },
    start () {
      if (rate <= 0) return
      const sweep = setInterval(() => evict(now(), false), 5000)
      sweep.unref()
      timers.push(sweep)
      if (!shared) return
      void heartbeat()
      const hb = setInterval(() => { void heartbeat() }, HEARTBEAT_MS)
      const sy = setInterval(() => { void sync() }, o.syncMs)
      hb.unref()
      sy.unref()
      timers.push(hb, sy)
      o.store.onStateChange((s) => {
        if (s === 'up') {
          void heartbeat()
          syncSoon()
        } else {
          syncOk = false
        }
      })
    },
    sync,
    close () {
      for (const t of timers) clearInterval(t)
      timers = []
      if (soon !== undefined) clearImmediate(soon)
    },
  }
}

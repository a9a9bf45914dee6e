/**
 * The shared-state store: the few primitives kubegate's replicas need to agree (revocations, rate-limit
 * budgets, live replica count). Three implementations: memory (one process), Redis (replicas), and IPC (the workers
 * of one process tree, served by the primary's memory store: src/store/ipc.ts).
 * Keys and channels are given without the deployment's key prefix; implementations add it.
 */

/** `up`: commands and the subscription work. `down`: the last command or connection failed. */
export type StoreState = 'up' | 'down'

/** A token bucket: refills at `ratePerSecond` up to `burst`. */
export interface BucketPolicy {
  readonly ratePerSecond: number
  readonly burst: number
  /** Idle buckets are forgotten after this (a full bucket needs no storage). */
  readonly ttlMs: number
}

/** Asks a shared bucket for up to `want` whole tokens (a rate-limit lease), after charging it `spent`. */
export interface LeaseRequest {
  readonly key: string
  readonly want: number
  /**
   * Requests the caller admitted without a leased token (on its local share while the store did not answer),
   * debited before the grant: the level may go below zero, never below `-burst`. 0 when absent.
   */
  readonly spent?: number
}

export interface LeaseGrant {
  /** Whole tokens taken from the bucket for the caller (0 to `want`). */
  readonly granted: number
  /** The bucket's level after the debit and the grant (may be fractional; negative while a debit is repaid). */
  readonly left: number
}

export interface Store {
  readonly kind: 'memory' | 'redis' | 'ipc'
  readonly state: StoreState
  get: (key: string) => Promise<string | undefined>
  /** Sets the value with a time to live (ms, > 0). */
  set: (key: string, value: string, ttlMs: number) => Promise<void>
  /** true when the key existed. */
  delete: (key: string) => Promise<boolean>
  /** Atomically returns and deletes the value (Redis GETDEL): of concurrent takers, exactly one gets it. */
  take: (key: string) => Promise<string | undefined>
  /** Every live key under `prefix` (prefix removed from the deployment prefix, kept otherwise) with its value. */
  list: (prefix: string) => Promise<Array<[string, string]>>
  /** Atomic add; the key expires `ttlMs` after its last increment. Returns the new value. */
  incr: (key: string, by: number, ttlMs: number) => Promise<number>
  /**
   * Atomically refills token buckets with the store's own clock (so replicas' clocks do not matter), debits
   * each by `spent` (down to `-burst` at most) and takes up to `want` whole tokens, never more than it holds
   * (a grant never takes the level below 0). Returns what was granted and what is left, in order.
   */
  lease: (requests: readonly LeaseRequest[], policy: BucketPolicy) => Promise<LeaseGrant[]>
  /** Marks `member` alive in the group `key` for `ttlMs`; returns how many members are alive. */
  heartbeat: (key: string, member: string, ttlMs: number) => Promise<number>
  publish: (channel: string, message: string) => Promise<void>
  /** Resolves once the subscription is active; the returned function ends it. */
  subscribe: (channel: string, onMessage: (message: string) => void) => Promise<() => Promise<void>>
  /** Called on every transition; `up` after a reconnect means "resynchronise, messages may have been missed". */
  onStateChange: (listener: (state: StoreState) => void) => () => void
  close: () => Promise<void>
}

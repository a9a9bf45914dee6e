// A time budget for synchronous signature checks: how much of the event loop verification may block before it goes to the pool.
import { performance } from 'node:perf_hooks'

export interface SyncBudgetOptions {
  /**
   * Largest share of wall-clock time that synchronous work may take, 0..1 (0: never synchronous).
   * Over any window longer than the burst, synchronous work blocks the event loop at most this share.
   */
  readonly share: number
  /** Largest burst in ms of synchronous work allowed at once after an idle period (the bucket's size). */
  readonly burstMs: number
  /**
   * Extra ms charged when the synchronous work failed (a signature that did not verify). Valid tokens never
   * pay it; a flood of forged ones empties the bucket after a few and is sent to the thread pool.
   */
  readonly failurePenaltyMs?: number
  /** Monotonic clock in ms; `performance.now` unless a test injects one. */
  readonly clock?: () => number
}

export interface SyncBudget {
  /** Whether synchronous work may start now (the bucket is not empty). */
  allow: () => boolean
  /**
   * Charges `ms` of synchronous work actually spent (plus the failure penalty when `failed`); the bucket may
   * go into debt by the last charge.
   */
  charge: (ms: number, failed?: boolean) => void
  /** ms of synchronous work currently available (negative while in debt). */
  available: () => number
  /** The clock the budget runs on, so callers time their work on the same scale. */
  readonly clock: () => number
}

/**
 * A token bucket measured in time rather than in operations: it refills at `share` ms per ms of wall-clock
 * time up to `burstMs`, and each piece of synchronous work is charged what it really took. So the bound on
 * how much of the event loop synchronous signature checks may take holds whatever the key type, key size
 * or CPU (a 4096-bit RSA key costs more than a 2048-bit one and is charged more). Refilling is computed
 * lazily from the clock on each call: no timer.
 */
export function createSyncBudget (options: SyncBudgetOptions): SyncBudget {
  const clock = options.clock ?? performance.now.bind(performance)
  const share = options.share
  const burst = options.burstMs
  const penalty = options.failurePenaltyMs ?? 0
  if (!(share >= 0 && share <= 1)) throw new RangeError(`sync budget share must be within [0, 1], got ${share}`)
  if (!(burst >= 0 && Number.isFinite(burst))) throw new RangeError(`sync budget burst must be a finite number >= 0, got ${burst}`)
  if (!(penalty >= 0 && Number.isFinite(penalty))) throw new RangeError(`sync budget failure penalty must be a finite number >= 0, got ${penalty}`)
  let tokens = burst
  let last = clock()

  function refill (): void {
    const t = clock()
    const elapsed = t - last
    last = t
    // A clock that stands still or (for an injected one) goes back refills nothing.
    if (elapsed > 0) tokens = Math.min(burst, tokens + elapsed * share)
  }

  return {
    allow () {
      if (share === 0 || burst === 0) return false
      refill()
      return tokens > 0
    },
    charge (ms, failed = false) {
      refill()
      if (ms > 0) tokens -= ms
      if (failed) tokens -= penalty
    },
    available () {
      refill()
      return tokens
    },
    clock,
  }
}

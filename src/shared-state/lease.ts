// One identity's lease on its shared (Redis) token bucket: the tokens this replica may spend without asking.

/**
 * Requests admitted on credit while no leased token is left: the first request of an identity this replica
 * has not leased for yet, or one that arrives while the top-up is on its way. Never while the last answer
 * said the shared bucket is empty, and repaid from the next grant.
 */
export const LEASE_CREDIT = 1

/**
 * Tokens a replica holds per identity at most: ceil(burst / 20), at least 2 and at most 10. Small, because
 * every replica may hold a full lease at once (it is part of the stated slack); not 1, so that a top-up on
 * its way does not refuse the next request of a busy user.
 */
export function leaseSize (burst: number): number {
  return Math.min(10, Math.max(2, Math.ceil(burst / 20)))
}

/**
 * A replica admits a request only by spending a token it already took from the shared bucket (or, once, on
 * credit), so across all replicas the admissions over any window of t seconds stay within the shared bucket's
 * `burst + rate × t` plus what the replicas held or owed when the window began: at most
 * `replicas × (leaseSize + LEASE_CREDIT)`. While the store does not answer, the replica admits on its local
 * share instead; each of those admissions is recorded here (`admittedLocally`) and charged to the shared
 * bucket with the next ask (`spent`), so the shared bucket pays for every request whoever admitted it.
 */
export class Lease {
  /** Leased and unspent; negative: admitted on credit, not yet repaid. */
  #tokens = 0
  /** The shared level from the last answer that could not fill the lease (known empty; negative: a debt), else undefined. */
  #emptyLeft: number | undefined
  /** Tokens asked for in the request on its way. */
  #asking = 0
  /** A request to the store is on its way. */
  #pending = false
  /** Admitted on the local share, not yet charged to the shared bucket. */
  #unpaid = 0
  /** Admitted on the local share and charged in the request on its way. */
  #charging = 0

  get tokens (): number { return this.#tokens }
  /** Owes the shared bucket: a credit not yet repaid, or local-share admissions not yet charged. */
  get owes (): boolean { return this.#tokens < 0 || this.#unpaid > 0 || this.#charging > 0 }
  /** Local-share admissions not yet charged to the shared bucket (including those being charged). */
  get uncharged (): number { return this.#unpaid + this.#charging }
  /** The last answer from the store could not fill the lease. */
  get knownEmpty (): boolean { return this.#emptyLeft !== undefined }
  /** A top-up is on its way. */
  get asking (): boolean { return this.#pending }

  /** Spends a leased token, or takes one on credit when none is left, credit remains and the bucket may hold more. */
  take (): boolean {
    if (this.#tokens >= 1 || (this.#emptyLeft === undefined && this.#tokens - 1 >= -LEASE_CREDIT)) {
      this.#tokens -= 1
      return true
    }
    return false
  }

  /** Spends a leased token if one is left (no credit: while the store does not answer, credit could not be repaid). */
  spendHeld (): boolean {
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** A request was admitted on the local share: to be charged to the shared bucket with the next ask. */
  admittedLocally (): void {
    this.#unpaid += 1
  }

  /** Down to half a lease, owing, or holding uncharged admissions, and nothing asked for yet: time to ask. */
  needsTopUp (size: number): boolean {
    return !this.#pending && (this.#tokens <= Math.floor(size / 2) || this.#unpaid > 0)
  }

  /** What to ask the store for: enough to repay any credit and fill the lease. Marks it asked. */
  ask (size: number): number {
    this.#pending = true
    this.#asking = Math.max(0, size - Math.ceil(this.#tokens))
    return this.#asking
  }

  /** What to charge with the ask just made: the local-share admissions not charged yet. */
  charge (): number {
    this.#charging = this.#unpaid
    this.#unpaid = 0
    return this.#charging
  }

  /** The store's answer to `ask` (the charge was debited). */
  settle (granted: number, left: number): void {
    this.#tokens += granted
    this.#emptyLeft = granted < this.#asking || left < 0 ? left : undefined
    this.#asking = 0
    this.#charging = 0
    this.#pending = false
  }

  /** The ask failed (store unreachable): nothing was granted or charged as far as we know; charge it next time. */
  abandon (): void {
    this.#asking = 0
    this.#unpaid += this.#charging
    this.#charging = 0
    this.#pending = false
  }

  /** Whole seconds until the shared bucket holds a token again, as far as this replica knows (at least 1). */
  retryAfter (ratePerSecond: number): number {
    const left = this.#emptyLeft ?? 0
    return Math.max(1, Math.ceil((1 - left) / Math.max(ratePerSecond, 0.001)))
  }
}

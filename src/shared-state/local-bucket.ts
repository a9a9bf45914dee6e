// A token bucket kept in this process: a single replica's limit, and each replica's share while Redis is unreachable.

/**
 * Refills continuously at the rate given to each `take` (per second) up to the capacity given with it, so a
 * change of capacity or rate (the live-replica count changed) applies from the next request on.
 */
export class LocalBucket {
  #tokens: number
  #last: number

  constructor (tokens: number, t: number) {
    this.#tokens = tokens
    this.#last = t
  }

  /** Refills for the time since the last call, then takes one token if there is a whole one. */
  take (t: number, capacity: number, ratePerSecond: number): boolean {
    if (t > this.#last) {
      this.#tokens = Math.min(capacity, this.#tokens + (t - this.#last) * ratePerSecond / 1000)
      this.#last = t
    } else if (this.#tokens > capacity) {
      this.#tokens = capacity
    }
    if (this.#tokens < 1) return false
    this.#tokens -= 1
    return true
  }

  /** Whole seconds until a token is back (at least 1): the `Retry-After` of a refusal. */
  retryAfter (ratePerSecond: number): number {
    return Math.max(1, Math.ceil((1 - this.#tokens) / Math.max(ratePerSecond, 0.001)))
  }
}

// Per-client-address budget for failed authentications: a token bucket charged on refusals only, in a bounded table.
import { isIP } from 'node:net'
import { KubegateError } from '../errors.js'

export interface FailedAuthBudgetOptions {
  /** Failed verifications an address earns back per second. */
  readonly ratePerSecond: number
  /** Failed verifications an address may have in a row (the bucket's size). */
  readonly burst: number
  /** Addresses tracked at once; beyond it the least recently charged is forgotten. */
  readonly maxAddresses: number
  /** Called when an address uses up its budget (metrics). */
  readonly onExhausted?: () => void
  readonly now?: () => number
}

/**
 * One address's bucket, GCRA-style: `tat` is the time (ms) at which the bucket would be full again, so a
 * bucket is a number and refilling costs nothing. `pending` counts verifications from this address still
 * running: each may become a failure, so they count against the budget until they settle (without it a
 * burst of concurrent forged tokens would all start before the first one failed).
 */
interface Bucket {
  readonly key: string
  tat: number
  pending: number
}

/** A verification the budget admitted; settle it exactly once with its outcome. */
export interface BudgetTicket {
  readonly bucket: Bucket
}

/**
 * The key an address is budgeted under: IPv4 as is (also when IPv4-mapped), IPv6 by its /64 (one subnet is
 * what a single host or LAN is given, and a client can pick any address in it). Undefined when not an address.
 */
export function budgetKey (address: string): string | undefined {
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  if (isIP(v4) === 4) return v4
  if (isIP(address) !== 6) return undefined
  return ipv6Prefix64(address)
}

/** The first four groups of an IPv6 address, expanded (`2001:db8::1` → `2001:db8:0:0`). */
function ipv6Prefix64 (address: string): string {
  const zone = address.indexOf('%')
  const a = (zone === -1 ? address : address.slice(0, zone)).toLowerCase()
  const gap = a.indexOf('::')
  let groups: string[]
  if (gap === -1) {
    groups = a.split(':')
  } else {
    const head = a.slice(0, gap) === '' ? [] : a.slice(0, gap).split(':')
    const tail = a.slice(gap + 2) === '' ? [] : a.slice(gap + 2).split(':')
    // An embedded IPv4 tail (`::ffff:1.2.3.4`, `64:ff9b::1.2.3.4`) takes two groups; it never reaches the /64 anyway.
    const tailGroups = tail.length > 0 && (tail.at(-1) as string).includes('.') ? tail.length + 1 : tail.length
    groups = [...head, ...new Array<string>(8 - head.length - tailGroups).fill('0'), ...tail]
  }
  return groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')
}

/**
 * The failed-authentication budget of every client address. A request whose token the cache does not answer
 * asks `admit` before any signature is checked; the verification's outcome settles the ticket, and only a
 * refusal is charged. An address over budget gets 429 with `Retry-After` until it has earned a failure back.
 * The table is a Map in least-recently-charged order with a fixed bound: an idle address refills on its own,
 * so forgetting the oldest loses little, and no client can grow the table.
 */
export class FailedAuthBudget {
  readonly #intervalMs: number
  /** How far `tat` may run ahead of now before the next failure would be over budget. */
  readonly #toleranceMs: number
  readonly #maxAddresses: number
  readonly #onExhausted: (() => void) | undefined
  readonly #now: () => number
  readonly #buckets = new Map<string, Bucket>()

  constructor (options: FailedAuthBudgetOptions) {
    if (!(options.ratePerSecond > 0) || !(options.burst >= 1) || !(options.maxAddresses >= 1)) {
      throw new RangeError('failed-authentication budget: rate, burst and table size must be positive')
    }
    this.#intervalMs = 1000 / options.ratePerSecond
    this.#toleranceMs = (options.burst - 1) * this.#intervalMs
    this.#maxAddresses = options.maxAddresses
    this.#onExhausted = options.onExhausted
    this.#now = options.now ?? Date.now
  }

  /** Addresses tracked now (for metrics and tests). */
  get size (): number {
    return this.#buckets.size
  }

  /**
   * Before a verification for `address`: a ticket to settle when it is done, or the 429 to answer with when
   * the address has no failure left to spend (counting the verifications it already has running).
   */
  admit (address: string): BudgetTicket | KubegateError {
    const key = budgetKey(address) ?? address
    const bucket = this.#buckets.get(key) ?? this.#track(key)
    const t = this.#now()
    const ahead = Math.max(bucket.tat, t) + bucket.pending * this.#intervalMs - t
    if (ahead > this.#toleranceMs) return this.#refusal(ahead)
    bucket.pending++
    return { bucket }
  }

  /** The verification is over: a refusal is charged, anything else (success, 503) costs nothing. */
  settle (ticket: BudgetTicket, refused: boolean): void {
    const b = ticket.bucket
    b.pending--
    if (!refused) return
    const t = this.#now()
    const wasOver = Math.max(b.tat, t) - t > this.#toleranceMs
    b.tat = Math.max(b.tat, t) + this.#intervalMs
    if (!wasOver && b.tat - t > this.#toleranceMs) this.#onExhausted?.()
    this.#touch(b)
  }

  #refusal (aheadMs: number): KubegateError {
    const retryAfter = Math.max(1, Math.ceil((aheadMs - this.#toleranceMs) / 1000))
    return new KubegateError('KG_ERR_RATE_LIMITED', 'too many failed authentications from this address', { retryAfter, failure: 'auth_failures_limited' })
  }

  #track (key: string): Bucket {
    if (this.#buckets.size >= this.#maxAddresses) this.#buckets.delete(this.#buckets.keys().next().value as string)
    const bucket: Bucket = { key, tat: 0, pending: 0 }
    this.#buckets.set(key, bucket)
    return bucket
  }

  /** Moves a charged address to the end of the eviction order (it is still in the table unless evicted meanwhile). */
  #touch (b: Bucket): void {
    if (this.#buckets.get(b.key) !== b) return
    this.#buckets.delete(b.key)
    this.#buckets.set(b.key, b)
  }
}

/** `server.failedAuthPerAddress` as configured; a rate or burst of 0 turns the budget off. */
export interface FailedAuthBudgetConfig {
  readonly ratePerSecond: number
  readonly burst: number
  readonly maxAddresses: number
}

/** The budget from its config section, or undefined when it is off. */
export function buildFailedAuthBudget (config: FailedAuthBudgetConfig, onExhausted?: () => void, now?: () => number): FailedAuthBudget | undefined {
  if (config.ratePerSecond === 0 || config.burst === 0) return undefined
  return new FailedAuthBudget({ ...config, onExhausted, now })
}

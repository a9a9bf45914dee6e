// Checks a decoded token's signature against candidate keys: on the event loop within a time budget, else on the thread pool under a pending cap.
import { verifySignatureAsync, verifySignatureSync, type DecodedJws } from './jwt.js'
import type { VerificationKey } from './key-set.js'
import type { SyncBudget } from './sync-budget.js'

/** The key that verified the signature, `null` when none did, `busy` when the pool's pending cap is reached. */
export type SignatureResult = VerificationKey | null | 'busy'

/**
 * One per verifier (per issuer): the sync budget bounds the loop's share, `maxPending` bounds the pool's
 * queue. Both paths make the same checks (verifySignatureSync and verifySignatureAsync share their arguments).
 */
export class SignatureChecker {
  readonly #budget: SyncBudget
  readonly #maxPending: number
  #pending = 0

  constructor (budget: SyncBudget, maxPending: number) {
    this.#budget = budget
    this.#maxPending = maxPending
  }

  check (jws: DecodedJws, keys: readonly VerificationKey[]): SignatureResult | Promise<SignatureResult> {
    if (this.#budget.allow()) return this.#checkSync(jws, keys)
    if (this.#pending >= this.#maxPending) return 'busy'
    return this.#checkOnPool(jws, keys)
  }

  /** Charged what it really took, so the budget bounds the loop's share whatever the key costs. */
  #checkSync (jws: DecodedJws, keys: readonly VerificationKey[]): VerificationKey | null {
    const t0 = this.#budget.clock()
    let found: VerificationKey | null = null
    try {
      found = keys.find((key) => verifySignatureSync(jws, key)) ?? null
    } finally {
      this.#budget.charge(this.#budget.clock() - t0, found === null)
    }
    return found
  }

  async #checkOnPool (jws: DecodedJws, keys: readonly VerificationKey[]): Promise<VerificationKey | null> {
    this.#pending++
    try {
      for (const key of keys) if (await verifySignatureAsync(jws, key)) return key
      return null
    } finally {
      this.#pending--
    }
  }
}

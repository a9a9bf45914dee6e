// An Authenticator that sends tokens not from a configured issuer to the apiserver's TokenReview (token passthrough), and every other token to kubegate's own.
import type { Authenticator } from './authenticator.js'
import type { PassthroughRoute } from './passthrough.js'
import type { TokenReviewer } from './token-review.js'

/**
 * Wraps kubegate's authenticator only when passthrough is on (off, nothing changes and nothing is added to
 * the hot path). Revocation evicts from both caches; `clear` clears both.
 */
export function withPassthrough (inner: Authenticator, route: PassthroughRoute, reviewer: TokenReviewer): Authenticator {
  return {
    authenticate: (token) => route(token) ?? inner.authenticate(token),
    // A reviewed token is only ever in the reviewer's cache, one of ours only in ours.
    cached: (token) => inner.cached(token) ?? reviewer.cached(token),
    evict: (predicate) => inner.evict(predicate) + reviewer.evict(predicate),
    get size () { return inner.size + reviewer.size },
    get stats () { return inner.stats },
    clear () {
      inner.clear()
      reviewer.clear()
    },
  }
}

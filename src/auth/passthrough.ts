// Token passthrough routing: which bearer tokens go to the apiserver's TokenReview instead of kubegate's own OIDC verification.
import type { PassedThrough, TokenReviewer } from './token-review.js'
import type { IssuerRoute } from './token-route.js'

/**
 * A token for a configured issuer (by its unverified `iss`, as the apiserver's JWT authenticator routes)
 * is always verified by kubegate; with passthrough on, every other token (a ServiceAccount token, an opaque
 * token of a webhook authenticator) is reviewed by the apiserver. undefined: not for passthrough (the caller
 * verifies it as an OIDC token, which refuses anything foreign with 401, as before).
 */
export function createPassthroughRoute (isIssuerToken: IssuerRoute, reviewer: TokenReviewer | undefined) {
  return function passthrough (token: string): PassedThrough | Promise<PassedThrough> | undefined {
    if (reviewer === undefined || isIssuerToken(token)) return undefined
    return reviewer.review(token)
  }
}

export type PassthroughRoute = ReturnType<typeof createPassthroughRoute>

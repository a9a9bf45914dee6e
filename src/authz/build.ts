// Builds nested impersonation and token passthrough from config: the review client, the SubjectAccessReview cache and step, the TokenReview authenticator.
import type { Config } from '../config/load.js'
import { createTokenReviewer, type TokenReviewer } from '../auth/token-review.js'
import { createClientIdentityStep } from '../impersonation/client-identity.js'
import { createApiClient, type ApiClient } from '../k8s/api-client.js'
import type { UpstreamTarget } from '../upstream/target.js'
import { createDecisionCache, type DecisionCache } from './decision-cache.js'
import { reviewAccess } from './subject-access-review.js'

export interface Reviews {
  /** The client-identity step (nested impersonation, or the 403 when it is off). */
  readonly clientIdentity: ReturnType<typeof createClientIdentityStep>
  /** The SubjectAccessReview answer cache (sizes for metrics, eviction by user). */
  readonly decisions: DecisionCache
  /** Present when token passthrough is on. */
  readonly tokenReviewer: TokenReviewer | undefined
  close: () => Promise<void>
}

export interface ReviewsDeps {
  /** The apiserver as configured now (a reload may change it). */
  readonly target: () => UpstreamTarget
  /** kubegate's current `Bearer <token>`. */
  readonly authorization: () => string
  readonly onSubjectAccessReview?: (result: 'allowed' | 'denied' | 'error') => void
  readonly onTokenReview?: (result: 'authenticated' | 'unauthenticated' | 'error') => void
  readonly now?: (() => number) | undefined
}

/**
 * One review client (its own small pool to the apiserver, kubegate's credential) shared by both features.
 * Built once per process: `impersonation.*` and `tokenPassthrough.*` take effect at start.
 */
export function buildReviews (config: Config, deps: ReviewsDeps): Reviews {
  const { impersonation, tokenPassthrough } = config
  const client: ApiClient = createApiClient({
    target: deps.target,
    authorization: deps.authorization,
    timeoutMs: impersonation.reviewTimeoutSeconds * 1000,
    maxPending: config.cache.maxPendingVerifications,
  })
  const decisions = createDecisionCache({
    authorize: async (subject, attributes) => await reviewAccess(client, subject, attributes),
    allowedTtlSeconds: impersonation.allowedCacheSeconds,
    deniedTtlSeconds: impersonation.deniedCacheSeconds,
    maxEntries: impersonation.cacheMaxEntries,
    onReview: deps.onSubjectAccessReview,
    now: deps.now,
  })
  const tokenReviewer = tokenPassthrough.enabled
    ? createTokenReviewer({
      client,
      audiences: tokenPassthrough.audiences,
      ttlSeconds: tokenPassthrough.cacheTtlSeconds,
      negativeTtlSeconds: tokenPassthrough.negativeCacheTtlSeconds,
      maxEntries: tokenPassthrough.cacheMaxEntries,
      onReview: deps.onTokenReview,
      now: deps.now,
    })
    : undefined
  return {
    clientIdentity: createClientIdentityStep({ nested: impersonation.nested, authorize: decisions.authorize }),
    decisions,
    tokenReviewer,
    close: async () => { await client.close() },
  }
}

// Token authentication with a positive and a negative cache: verify and map once, answer repeats synchronously.
import { hash } from 'node:crypto'
import type { ClaimMapper } from '../claims/map.js'
import { toKubegateError, type KubegateError } from '../errors.js'
import { buildImpersonationHeaders } from '../impersonation/headers.js'
import type { OidcVerifier } from '../oidc/verifier.js'
import type { Identity } from './identity.js'
import { LruCache } from './token-cache.js'

/** A verified token: the identity and the impersonation headers built from it, computed once. */
export interface Authenticated {
  readonly identity: Identity
  /** Flat `[name, value, ...]` Impersonate-* lines, Latin-1 encoded UTF-8 (see toWireValue). */
  readonly headers: readonly string[]
  /** SHA-256 of the token, base64url: the cache key, and how a single token is revoked. Never the token. */
  readonly tokenHash: string
  /** The issuer key that verified the token; entries are evicted when the issuer unpublishes it. */
  readonly keyId: string | undefined
}

export interface AuthenticatorOptions {
  readonly verifier: Pick<OidcVerifier, 'verify'>
  readonly mapClaims: ClaimMapper
  readonly maxEntries: number
  readonly maxTtlSeconds: number
  readonly negativeTtlSeconds: number
  readonly negativeMaxEntries: number
  readonly now?: () => number
}

export type AuthOutcome = 'cache_hit' | 'verified' | 'negative_hit'

export interface Authenticator {
  /**
   * Synchronous on a cache hit (no await on the hot path); a Promise when the token must be verified.
   * Throws / rejects with a KubegateError.
   */
  authenticate: (token: string) => Authenticated | Promise<Authenticated>
  /**
   * The positive cache's verdict alone (counted as a hit), undefined when it holds none: never verifies and
   * never throws. What a step in front of verification (the failed-authentication budget) lets through.
   */
  cached: (token: string) => Authenticated | undefined
  /** Drops cached verdicts matching the predicate (revocation). */
  evict: (predicate: (a: Authenticated) => boolean) => number
  readonly size: number
  readonly stats: { hits: number, misses: number, negativeHits: number }
  clear: () => void
}

export function tokenHash (token: string): string {
  return hash('sha256', token, 'base64url')
}

/**
 * Token verification with a positive cache (key: SHA-256 of the token; lifetime min(exp − now, cap)),
 * single flight for concurrent first uses of one token, and a short negative cache so a replayed bad token
 * costs a hash and a map lookup instead of a signature check.
 */
export function createAuthenticator (options: AuthenticatorOptions): Authenticator {
  const now = options.now ?? Date.now
  const positive = new LruCache<Authenticated>(options.maxEntries, now)
  const negative = new LruCache<KubegateError>(options.negativeMaxEntries, now)
  const inflight = new Map<string, Promise<Authenticated>>()
  const maxTtlMs = options.maxTtlSeconds * 1000
  const negTtlMs = options.negativeTtlSeconds * 1000
  const stats = { hits: 0, misses: 0, negativeHits: 0 }

  async function verifyAndMap (token: string, key: string): Promise<Authenticated> {
    try {
      const { payload, exp, kid } = await options.verifier.verify(token)
      const identity = options.mapClaims(payload, exp)
      const result: Authenticated = { identity, headers: buildImpersonationHeaders(identity), tokenHash: key, keyId: kid }
      const t = now()
      positive.set(key, result, Math.min(exp * 1000, t + maxTtlMs))
      return result
    } catch (err) {
      const e = toKubegateError(err)
      // Only final verdicts about the token itself are remembered: "issuer down", "busy" and "unknown kid"
      // (the issuer may have just rotated; the next refetch after the cooldown can find the key) must not stick.
      if (e.statusCode === 401 && e.failure !== 'unknown_kid' && negTtlMs > 0) negative.set(key, e, now() + negTtlMs)
      throw e
    }
  }

  return {
    authenticate (token) {
      const key = tokenHash(token)
      const hit = positive.get(key)
      if (hit !== undefined) {
        stats.hits++
        return hit
      }
      const neg = negative.get(key)
      if (neg !== undefined) {
        stats.negativeHits++
        throw neg
      }
      stats.misses++
      let p = inflight.get(key)
      if (p === undefined) {
        // The entry is removed in a later microtask, so even a verifier that fails synchronously cannot
        // leave a settled promise behind in the map (which would answer that token forever).
        p = verifyAndMap(token, key).finally(() => inflight.delete(key))
        inflight.set(key, p)
      }
      return p
    },
    cached (token) {
      const hit = positive.get(tokenHash(token))
      if (hit !== undefined) stats.hits++
      return hit
    },
    evict: (predicate) => positive.deleteWhere((a) => predicate(a)),
    get size () { return positive.size },
    stats,
    clear () {
      positive.clear()
      negative.clear()
    },
  }
}

// Token passthrough: asks the apiserver with a TokenReview (authentication.k8s.io/v1) whether it accepts a bearer token kubegate does not verify itself, and caches the answer briefly.
import { KubegateError, toKubegateError } from '../errors.js'
import type { ApiClient } from '../k8s/api-client.js'
import type { Authenticated } from './authenticator.js'
import type { Identity } from './identity.js'
import { tokenHash } from './authenticator.js'
import { LruCache } from './token-cache.js'
import { unverifiedClaims } from './token-route.js'

export const TOKEN_REVIEWS_PATH = '/apis/authentication.k8s.io/v1/tokenreviews'

/**
 * The client's own credential, forwarded as it came. A private field, so that no logger, serializer or
 * `console.log` of the object can print the token.
 */
export class ClientCredential {
  readonly #authorization: string
  constructor (token: string) {
    this.#authorization = 'Bearer ' + token
  }

  /** `Bearer <the client's token>`, for the upstream Authorization line. */
  get authorization (): string {
    return this.#authorization
  }

  toJSON (): string {
    return '[client token]'
  }
}

/** A token the apiserver accepted: forwarded with the client's credential and nothing of kubegate's. */
export interface PassedThrough extends Authenticated {
  readonly passthrough: ClientCredential
}

export function isPassedThrough (a: Authenticated): a is PassedThrough {
  return (a as Partial<PassedThrough>).passthrough instanceof ClientCredential
}

export interface TokenReviewerOptions {
  readonly client: ApiClient
  /** spec.audiences; empty: the apiserver's own audiences. */
  readonly audiences: readonly string[]
  /** Longest reuse of an accepted token (seconds), never past its `exp`. */
  readonly ttlSeconds: number
  /** How long a refused token is remembered (seconds; 0: not at all). */
  readonly negativeTtlSeconds: number
  readonly maxEntries: number
  /** Each answer that came from the apiserver: `authenticated`, `unauthenticated` or `error`. */
  readonly onReview?: (result: 'authenticated' | 'unauthenticated' | 'error') => void
  readonly now?: () => number
}

export interface TokenReviewer {
  /**
   * The reviewed identity: synchronously from the cache (no await on a hit, as for kubegate's own tokens), or
   * a Promise. Throws / rejects: 401 (not accepted), 503/500 (could not ask).
   */
  review: (token: string) => PassedThrough | Promise<PassedThrough>
  /** The cached identity for this token, without asking the apiserver. */
  cached: (token: string) => PassedThrough | undefined
  evict: (predicate: (a: PassedThrough) => boolean) => number
  clear: () => void
  readonly size: number
  readonly stats: { hits: number, misses: number, negativeHits: number }
}

export function tokenReview (token: string, audiences: readonly string[]): Record<string, unknown> {
  const spec: Record<string, unknown> = { token }
  if (audiences.length > 0) spec.audiences = audiences
  return { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec }
}

function stringList (v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []
}

function extraOf (v: unknown): Record<string, string[]> | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const out: Record<string, string[]> = {}
  for (const [k, vals] of Object.entries(v)) {
    const list = stringList(vals)
    if (list.length > 0) out[k] = list
  }
  return Object.keys(out).length > 0 ? out : undefined
}

function refused (detail: string): KubegateError {
  return new KubegateError('KG_ERR_BAD_TOKEN', detail, { failure: 'token_review_refused' })
}

/**
 * The identity in a TokenReview status, exactly as the apiserver reported it (groups already hold
 * `system:authenticated` and, for a service account, its groups). With audiences asked for, the answer
 * must name at least one of them, as client-go's webhook token authenticator requires.
 */
export function readReview (answer: unknown, audiences: readonly string[], token: string): Identity {
  const status = (answer as { status?: unknown } | null)?.status as Record<string, unknown> | undefined
  if (typeof status !== 'object' || status === null || status.authenticated !== true) {
    const why = typeof status?.error === 'string' && status.error !== '' ? status.error : 'not authenticated'
    throw refused(`TokenReview: ${why}`)
  }
  if (audiences.length > 0 && !stringList(status.audiences).some((a) => audiences.includes(a))) {
    throw refused('TokenReview: the token is not for any of the configured audiences')
  }
  const user = (status.user ?? {}) as Record<string, unknown>
  if (typeof user.username !== 'string' || user.username === '') throw refused('TokenReview: no username')
  const claims = unverifiedClaims(token)
  return {
    user: user.username,
    groups: stringList(user.groups),
    uid: typeof user.uid === 'string' && user.uid !== '' ? user.uid : undefined,
    extra: extraOf(user.extra),
    sub: user.username,
    exp: typeof claims?.exp === 'number' ? claims.exp : Number.POSITIVE_INFINITY,
    iat: typeof claims?.iat === 'number' ? claims.iat : undefined,
  }
}

/**
 * TokenReview with a positive cache (key: SHA-256 of the token; lifetime min(ttl, exp − now), `exp` read
 * unverified from a JWT: it only ever shortens the reuse), a negative cache for refusals (a replayed bad
 * token costs no review) and single flight. Failures to ask are never cached.
 */
export function createTokenReviewer (options: TokenReviewerOptions): TokenReviewer {
  return new CachingTokenReviewer(options)
}

class CachingTokenReviewer implements TokenReviewer {
  readonly #options: TokenReviewerOptions
  readonly #now: () => number
  readonly #positive: LruCache<PassedThrough>
  readonly #negative: LruCache<KubegateError>
  readonly #inflight = new Map<string, Promise<PassedThrough>>()
  readonly stats = { hits: 0, misses: 0, negativeHits: 0 }

  constructor (options: TokenReviewerOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#positive = new LruCache<PassedThrough>(options.maxEntries, this.#now)
    this.#negative = new LruCache<KubegateError>(options.maxEntries, this.#now)
  }

  review (token: string): PassedThrough | Promise<PassedThrough> {
    const key = tokenHash(token)
    const hit = this.#positive.get(key)
    if (hit !== undefined) {
      this.stats.hits++
      return hit
    }
    const neg = this.#negative.get(key)
    if (neg !== undefined) {
      this.stats.negativeHits++
      throw neg
    }
    this.stats.misses++
    let p = this.#inflight.get(key)
    if (p === undefined) {
      p = this.#ask(token, key).finally(() => this.#inflight.delete(key))
      this.#inflight.set(key, p)
    }
    return p
  }

  cached (token: string): PassedThrough | undefined {
    return this.#positive.get(tokenHash(token))
  }

  evict (predicate: (a: PassedThrough) => boolean): number {
    return this.#positive.deleteWhere((a) => predicate(a))
  }

  clear (): void {
    this.#positive.clear()
    this.#negative.clear()
  }

  get size (): number {
    return this.#positive.size
  }

  async #ask (token: string, key: string): Promise<PassedThrough> {
    const o = this.#options
    let identity: Identity
    try {
      identity = readReview(await o.client.create(TOKEN_REVIEWS_PATH, tokenReview(token, o.audiences)), o.audiences, token)
    } catch (err) {
      throw this.#refused(toKubegateError(err), key)
    }
    o.onReview?.('authenticated')
    const result: PassedThrough = { identity, headers: Object.freeze([]), tokenHash: key, keyId: undefined, passthrough: new ClientCredential(token) }
    this.#positive.set(key, result, Math.min(identity.exp * 1000, this.#now() + o.ttlSeconds * 1000))
    return result
  }

  /** A refusal (401) is remembered for the negative ttl; a failure to ask is not remembered at all. */
  #refused (e: KubegateError, key: string): KubegateError {
    const o = this.#options
    if (e.statusCode !== 401) {
      o.onReview?.('error')
      return e
    }
    o.onReview?.('unauthenticated')
    if (o.negativeTtlSeconds > 0) this.#negative.set(key, e, this.#now() + o.negativeTtlSeconds * 1000)
    return e
  }
}

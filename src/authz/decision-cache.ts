// A short-lived, bounded cache of SubjectAccessReview answers (allowed and denied kept apart), so an impersonating discovery burst costs one review per value.
import type { AccessDecision, Authorize, Subject } from '../impersonation/decide.js'
import type { ResourceAttributes } from '../k8s/forbidden.js'
import { LruCache } from '../auth/token-cache.js'

export interface DecisionCacheOptions {
  readonly authorize: Authorize
  /** How long an allowed answer is reused (seconds; 0: not cached). */
  readonly allowedTtlSeconds: number
  /** How long a denied answer is reused (seconds; 0: not cached). */
  readonly deniedTtlSeconds: number
  /** Answers kept per kind (LRU). */
  readonly maxEntries: number
  /** Each answer that came from the apiserver (not from the cache): `allowed`, `denied` or `error`. */
  readonly onReview?: (result: 'allowed' | 'denied' | 'error') => void
  readonly now?: () => number
}

export interface DecisionCache {
  readonly authorize: Authorize
  /** Forgets every answer about this user (revocation: the next request asks again, after the revocation check). */
  evictUser: (user: string) => number
  clear: () => void
  readonly size: number
  readonly stats: { hits: number, misses: number }
}

interface Entry { readonly user: string, readonly decision: AccessDecision }

/** The whole question: subject (user, groups, uid, extras) and attributes, in a fixed order. */
function keyOf (s: Subject, a: ResourceAttributes): string {
  const extra = s.extra === undefined ? [] : Object.keys(s.extra).sort().map((k) => [k, s.extra?.[k]])
  return JSON.stringify([s.user, s.groups, s.uid ?? null, extra, a.verb, a.group, a.version, a.resource, a.subresource, a.namespace, a.name])
}

/**
 * Wraps an Authorize with two LRU caches on the whole question, and single flight: concurrent identical
 * questions share one review. Errors are never cached (the next request asks again). Answers live for
 * seconds: a role binding removed upstream stops allowing impersonation within `allowedTtlSeconds`.
 */
export function createDecisionCache (options: DecisionCacheOptions): DecisionCache {
  const now = options.now ?? Date.now
  const allowed = new LruCache<Entry>(options.maxEntries, now)
  const denied = new LruCache<Entry>(options.maxEntries, now)
  const inflight = new Map<string, Promise<AccessDecision>>()
  const stats = { hits: 0, misses: 0 }

  async function ask (key: string, subject: Subject, a: ResourceAttributes): Promise<AccessDecision> {
    let decision: AccessDecision
    try {
      decision = await options.authorize(subject, a)
    } catch (err) {
      options.onReview?.('error')
      throw err
    }
    options.onReview?.(decision.allowed ? 'allowed' : 'denied')
    const ttl = decision.allowed ? options.allowedTtlSeconds : options.deniedTtlSeconds
    if (ttl > 0) (decision.allowed ? allowed : denied).set(key, { user: subject.user, decision }, now() + ttl * 1000)
    return decision
  }

  async function authorize (subject: Subject, a: ResourceAttributes): Promise<AccessDecision> {
    const key = keyOf(subject, a)
    const hit = allowed.get(key) ?? denied.get(key)
    if (hit !== undefined) {
      stats.hits++
      return hit.decision
    }
    stats.misses++
    let p = inflight.get(key)
    if (p === undefined) {
      p = ask(key, subject, a).finally(() => inflight.delete(key))
      inflight.set(key, p)
    }
    return await p
  }

  return {
    authorize,
    evictUser: (user) => allowed.deleteWhere((e) => e.user === user) + denied.deleteWhere((e) => e.user === user),
    clear () {
      allowed.clear()
      denied.clear()
    },
    get size () { return allowed.size + denied.size },
    stats,
  }
}

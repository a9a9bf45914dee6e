/**
 * Where a login in progress waits between `/login` and `/callback` (PKCE verifier, nonce, binding hash).
 *
 * Deliberately tiny so the shared store (src/store/, memory and Redis) can implement it directly: with
 * several replicas behind one URL, the browser may start the login on one and come back on another.
 */
/** Where logins in progress live in a shared store (Redis, the workers' IPC store): `login:<key>`. */
export const LOGIN_KEY_PREFIX = 'login:'

export interface LoginStateStore {
  /** Stores `value` under `key` for `ttlMs` milliseconds (replacing any previous value). */
  set: (key: string, value: string, ttlMs: number) => Promise<void>
  /** The value, or undefined when absent or expired. Does not consume it. */
  get: (key: string) => Promise<string | undefined>
  /**
   * Atomically returns and deletes the value (Redis `GETDEL`). This is what makes a `state` usable once:
   * of two concurrent callbacks with the same state, on the same or different replicas, exactly one wins.
   */
  take: (key: string) => Promise<string | undefined>
  delete: (key: string) => Promise<void>
}

export interface MemoryLoginStateStoreOptions {
  /**
   * Entries kept at most. `/login` is unauthenticated, so the store must be bounded: past the cap the
   * oldest started login is dropped (its user simply starts again).
   */
  readonly maxEntries?: number
  readonly now?: () => number
}

/** In-process LoginStateStore with per-entry expiry, for a single replica (the default). */
export function createMemoryLoginStateStore (options: MemoryLoginStateStoreOptions = {}): LoginStateStore & { readonly size: number } {
  const now = options.now ?? Date.now
  const maxEntries = options.maxEntries ?? 10_000
  // Map keeps insertion order: the first entries are the oldest (set() re-inserts).
  const entries = new Map<string, { value: string, expiresAt: number }>()

  function live (key: string): { value: string, expiresAt: number } | undefined {
    const e = entries.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= now()) {
      entries.delete(key)
      return undefined
    }
    return e
  }

  function sweep (): void {
    const t = now()
    for (const [k, e] of entries) if (e.expiresAt <= t) entries.delete(k)
    while (entries.size >= maxEntries) {
      const oldest = entries.keys().next()
      if (oldest.done === true) break
      entries.delete(oldest.value)
    }
  }

  return {
    async set (key, value, ttlMs) {
      entries.delete(key)
      if (entries.size >= maxEntries) sweep()
      entries.set(key, { value, expiresAt: now() + ttlMs })
    },
    async get (key) {
      return live(key)?.value
    },
    async take (key) {
      const e = live(key)
      if (e === undefined) return undefined
      entries.delete(key)
      return e.value
    },
    async delete (key) {
      entries.delete(key)
    },
    get size () { return entries.size },
  }
}

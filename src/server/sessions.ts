// The registry of long-running requests (watches, upgraded sessions), so shutdown and revocation can end them.
import type { Identity } from '../auth/identity.js'

/** An open long-running request (watch, `logs -f`, exec/attach/port-forward) and how to end it. */
export interface Session {
  readonly id: number
  readonly kind: 'stream' | 'upgrade'
  readonly identity: Identity
  readonly tokenHash: string
  readonly close: () => void
}

export interface SessionRegistry {
  /** Registers a session; returns a function that unregisters it (idempotent). */
  add: (kind: Session['kind'], identity: Identity, tokenHash: string, close: () => void) => () => void
  count: (kind: Session['kind'], user?: string) => number
  /** Ends every session matching the predicate (revocation: that user's watches and exec sessions). */
  closeWhere: (predicate: (s: Session) => boolean) => number
  closeAll: () => number
}

/**
 * Tracks open long-running requests per user, so that a per-user cap can be enforced, a revocation can
 * end what the revoked identity still has open, and a shutdown can end watches cleanly.
 */
export function createSessionRegistry (): SessionRegistry {
  const sessions = new Map<number, Session>()
  const perUser = new Map<string, { stream: number, upgrade: number }>()
  let next = 1

  return {
    add (kind, identity, tokenHash, close) {
      const id = next++
      sessions.set(id, { id, kind, identity, tokenHash, close })
      let c = perUser.get(identity.user)
      if (c === undefined) perUser.set(identity.user, c = { stream: 0, upgrade: 0 })
      c[kind]++
      let removed = false
      return () => {
        if (removed) return
        removed = true
        sessions.delete(id)
        const cc = perUser.get(identity.user)
        if (cc !== undefined) {
          cc[kind]--
          if (cc.stream === 0 && cc.upgrade === 0) perUser.delete(identity.user)
        }
      }
    },
    count (kind, user) {
      if (user !== undefined) return perUser.get(user)?.[kind] ?? 0
      let n = 0
      for (const s of sessions.values()) if (s.kind === kind) n++
      return n
    },
    closeWhere (predicate) {
      let n = 0
      for (const s of [...sessions.values()]) {
        if (predicate(s)) {
          n++
          s.close()
        }
      }
      return n
    },
    closeAll () {
      const all = [...sessions.values()]
      for (const s of all) s.close()
      return all.length
    },
  }
}

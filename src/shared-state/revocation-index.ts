// The in-memory mirror of the revocation list: apply, merge a full read, evict the expired, look up a token.
import type { Authenticated } from '../auth/authenticator.js'
import { covers, type Revocation } from './revocation-record.js'

interface Entry { rec: Revocation, seq: number }

/**
 * Entries by store key, each stamped with the sequence number of the change that brought it, so that a full
 * read (which started at some sequence number) never undoes a newer change learnt by message meanwhile.
 * The request path reads three maps (user, `sub`, token hash), rebuilt and swapped whole on every change.
 */
export class RevocationIndex {
  readonly #skewMs: number
  readonly #entries = new Map<string, Entry>()
  /** Deletions seen by message, so that a resync that read the store before them does not resurrect them. */
  readonly #tombstones = new Map<string, number>()
  #users = new Map<string, Revocation>()
  #subs = new Map<string, Revocation>()
  #tokens = new Map<string, Revocation>()
  #seq = 0

  constructor (skewMs: number) {
    this.#skewMs = skewMs
  }

  get size (): number { return this.#entries.size }
  /** The sequence number of the last change. */
  get seq (): number { return this.#seq }

  /** Apply: a record learnt by message or made here. Returns true when it is new or newer here. */
  apply (key: string, rec: Revocation, t: number): boolean {
    const s = ++this.#seq
    if (rec.expiresAt <= t) return false
    const prev = this.#entries.get(key)
    if (prev !== undefined && prev.rec.revokedAt >= rec.revokedAt) {
      prev.seq = Math.max(prev.seq, s)
      return false
    }
    this.#entries.set(key, { rec, seq: s })
    this.#tombstones.delete(key)
    this.#reindex()
    return true
  }

  /** A deletion learnt by message or made here. Returns true when the entry existed here. */
  delete (key: string): boolean {
    this.#tombstones.set(key, ++this.#seq)
    if (!this.#entries.delete(key)) return false
    this.#reindex()
    return true
  }

  /**
   * Apply a full read of the store that started at `startSeq`: it replaces the entries, except for changes
   * learnt since (newer records and deletions win). Returns the records that are new or newer here.
   */
  merge (listed: ReadonlyArray<readonly [string, Revocation]>, startSeq: number, startedAt: number): Revocation[] {
    const next = new Map<string, Entry>()
    for (const [key, rec] of listed) if (rec.expiresAt > startedAt) next.set(key, { rec, seq: startSeq })
    // Messages applied while the read was in flight are newer than what it saw.
    for (const [key, e] of this.#entries) {
      if (e.seq > startSeq) {
        const n = next.get(key)
        if (n === undefined || n.rec.revokedAt <= e.rec.revokedAt) next.set(key, e)
      }
    }
    for (const [key, s] of this.#tombstones) {
      if (s > startSeq) next.delete(key)
      else this.#tombstones.delete(key)
    }
    const fresh: Revocation[] = []
    for (const [key, e] of next) {
      const prev = this.#entries.get(key)
      if (prev === undefined || prev.rec.revokedAt < e.rec.revokedAt) fresh.push(e.rec)
    }
    this.#entries.clear()
    for (const [k, e] of next) this.#entries.set(k, e)
    this.#reindex()
    return fresh
  }

  /** Evict: drops expired entries (the lookup ignores them already; this keeps the maps small). */
  evictExpired (t: number): void {
    let dropped = false
    for (const [k, e] of this.#entries) {
      if (e.rec.expiresAt <= t) {
        this.#entries.delete(k)
        dropped = true
      }
    }
    if (dropped) this.#reindex()
  }

  /** The live record that covers this token, if any: three map lookups. */
  find (auth: Authenticated, t: number): Revocation | undefined {
    if (this.#tokens.size > 0) {
      const r = this.#tokens.get(auth.tokenHash)
      if (r !== undefined && r.expiresAt > t) return r
    }
    const id = auth.identity
    if (this.#users.size > 0) {
      const r = this.#users.get(id.user)
      if (r !== undefined && r.expiresAt > t && covers(r, id, auth.tokenHash, this.#skewMs)) return r
    }
    if (this.#subs.size > 0) {
      const r = this.#subs.get(id.sub)
      if (r !== undefined && r.expiresAt > t && covers(r, id, auth.tokenHash, this.#skewMs)) return r
    }
    return undefined
  }

  /** Every entry with its store key (for writing the list back to a store that lost it). */
  entries (): Array<[string, Revocation]> {
    return [...this.#entries].map(([k, e]) => [k, e.rec])
  }

  #reindex (): void {
    const u = new Map<string, Revocation>()
    const s = new Map<string, Revocation>()
    const t = new Map<string, Revocation>()
    for (const { rec } of this.#entries.values()) (rec.kind === 'user' ? u : rec.kind === 'sub' ? s : t).set(rec.value, rec)
    // Swapped whole: the request path never sees a half-built index.
    this.#users = u
    this.#subs = s
    this.#tokens = t
  }
}

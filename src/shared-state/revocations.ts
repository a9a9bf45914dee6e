import { hash, randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Authenticated } from '../auth/authenticator.js'
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'
import type { Store } from '../store/types.js'

export type RevocationKind = 'user' | 'sub' | 'token'

/** One revocation. Times are milliseconds since the epoch. */
export interface Revocation {
  readonly kind: RevocationKind
  /** User name, `sub`, or the token's SHA-256 (base64url, as `tokenHash`). */
  readonly value: string
  /** Tokens issued at or before this (plus the clock skew) are refused; for `token`, that one token. */
  readonly revokedAt: number
  /** After this no token it covers can still be valid, so it is forgotten. */
  readonly expiresAt: number
  /** The admin who revoked. */
  readonly by: string
  readonly reason?: string
}

export interface RevocationInput {
  readonly kind: RevocationKind
  readonly value: string
  readonly by: string
  readonly reason?: string
}

export interface RevocationListOptions {
  readonly store: Store
  readonly logger: Logger
  /** The issuer's longest ID token lifetime (Dex `expiry.idTokens`). */
  readonly maxTokenLifetimeSeconds: number
  /** oidc.clockSkewSeconds: the issuer's clock may run ahead of ours by this much. */
  readonly clockSkewSeconds: number
  readonly resyncSeconds: number
  /** Beyond this without a confirmed list, `check` fails closed (503). */
  readonly maxStalenessSeconds: number
  /** A revocation became known here (added, by message or by resync): end what it covers. */
  readonly onRevoked: (r: Revocation) => void
  readonly now?: () => number
}

export interface RevocationStatus {
  readonly entries: number
  /** When the list was last confirmed complete (ms), or undefined if never. */
  readonly confirmedAt: number | undefined
  /** Older than maxStalenessSeconds (or never loaded): requests are refused. */
  readonly stale: boolean
  readonly lastError: string | undefined
}

export interface RevocationList {
  /** Subscribes and loads the list; resolves true once the list has been loaded (it retries until then). */
  start: () => Promise<boolean>
  /** The admission: synchronous, memory only. */
  check: (auth: Authenticated) => KubegateError | undefined
  /** Whether `r` covers a token of this identity with this hash. */
  covers: (r: Revocation, identity: Identity, tokenHash: string) => boolean
  /** Stores, applies here at once, and tells the other replicas. Rejects if the store is unreachable. */
  add: (input: RevocationInput) => Promise<Revocation>
  /** true when it existed. Rejects if the store is unreachable. */
  remove: (kind: RevocationKind, value: string) => Promise<boolean>
  list: () => Revocation[]
  status: () => RevocationStatus
  /** Re-reads the whole list now (also runs periodically and after every reconnect). */
  resync: () => Promise<boolean>
  close: () => Promise<void>
}

const CHANNEL = 'revocations'
const KEY_PREFIX = 'rev:'
/** Random id written once per store lifetime: a different one means the store lost its data (restart without persistence). */
const EPOCH_KEY = 'revepoch'
const KINDS: readonly RevocationKind[] = ['user', 'sub', 'token']
const MAX_VALUE = 1024
const MAX_REASON = 256
const TOKEN_HASH = /^[A-Za-z0-9_-]{43}$/

/** Validates admin input; returns a problem or undefined. Values are compared byte for byte, never normalised. */
export function validateRevocationInput (kind: unknown, value: unknown, reason: unknown): string | undefined {
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) return 'kind must be user, sub or token'
  if (typeof value !== 'string' || value === '' || value.length > MAX_VALUE) return 'value must be a non-empty string'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'value must not contain control characters'
  if (kind === 'token' && !TOKEN_HASH.test(value)) return 'a token is revoked by its SHA-256, base64url without padding (43 characters)'
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON)) return `reason must be a string of at most ${MAX_REASON} characters`
  return undefined
}

function storeKey (kind: RevocationKind, value: string): string {
  // Hashed: user names are arbitrary bytes and may be long; the record holds the value.
  return KEY_PREFIX + kind + ':' + hash('sha256', value, 'base64url')
}

function parseRecord (text: string): Revocation | undefined {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof o !== 'object' || o === null) return undefined
  const r = o as Record<string, unknown>
  if (validateRevocationInput(r.kind, r.value, r.reason) !== undefined) return undefined
  if (typeof r.revokedAt !== 'number' || typeof r.expiresAt !== 'number' || typeof r.by !== 'string') return undefined
  return {
    kind: r.kind as RevocationKind,
    value: r.value as string,
    revokedAt: r.revokedAt,
    expiresAt: r.expiresAt,
    by: r.by,
    ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
  }
}

interface Entry { rec: Revocation, seq: number }

/**
 * The revocation list: authoritative in the store, mirrored in memory so the check on the request path is
 * three map lookups. Kept current by pub/sub, and re-read in full on start, after every reconnect and every
 * `resyncSeconds` (pub/sub loses what is sent while a subscriber is away). If the list cannot be confirmed
 * for `maxStalenessSeconds`, the check fails closed: a revoked user must not get back in because Redis is down.
 */
export function createRevocationList (o: RevocationListOptions): RevocationList {
  const now = o.now ?? Date.now
  const skewMs = o.clockSkewSeconds * 1000
  // A token issued up to `skew` after the revocation (by the issuer's clock, which may run ahead of ours) is
  // covered, and it may be accepted until exp + skew: so it can be valid until revokedAt + lifetime + 2 skew.
  const lifetimeMs = o.maxTokenLifetimeSeconds * 1000 + 2 * skewMs
  const maxStaleMs = o.maxStalenessSeconds * 1000
  const REVOKED = new KubegateError('KG_ERR_REVOKED', undefined, { failure: 'revoked' })
  const UNCONFIRMED = new KubegateError('KG_ERR_STATE_UNAVAILABLE', 'revocation list not confirmed', { failure: 'revocations_stale', retryAfter: 5 })

  const entries = new Map<string, Entry>()
  /** Deletions seen by message, so that a resync that read the store before them does not resurrect them. */
  const tombstones = new Map<string, number>()
  let users = new Map<string, Revocation>()
  let subs = new Map<string, Revocation>()
  let tokens = new Map<string, Revocation>()
  let seq = 0
  let confirmedAt: number | undefined
  let epoch: string | undefined
  let lastError: string | undefined
  let running: Promise<boolean> | undefined
  let again = false
  let closed = false
  let unsubscribe: (() => Promise<void>) | undefined
  let timer: NodeJS.Timeout | undefined
  let offState: (() => void) | undefined
  let loaded: (v: boolean) => void = () => undefined
  const firstLoad = new Promise<boolean>((resolve) => { loaded = resolve })

  const covers = (r: Revocation, identity: Identity, tokenHash: string): boolean => {
    switch (r.kind) {
      case 'token': return tokenHash === r.value
      case 'user': if (identity.user !== r.value) return false
        break
      case 'sub': if (identity.sub !== r.value) return false
        break
    }
    // No iat: we cannot tell when it was issued, so it is covered (fail closed).
    return identity.iat === undefined || identity.iat * 1000 <= r.revokedAt + skewMs
  }

  const reindex = (): void => {
    const u = new Map<string, Revocation>()
    const s = new Map<string, Revocation>()
    const t = new Map<string, Revocation>()
    for (const { rec } of entries.values()) (rec.kind === 'user' ? u : rec.kind === 'sub' ? s : t).set(rec.value, rec)
    // Swapped whole: the request path never sees a half-built index.
    users = u
    subs = s
    tokens = t
  }

  const notify = (r: Revocation): void => {
    try {
      o.onRevoked(r)
    } catch (err) {
      o.logger.error({ err: (err as Error).message }, 'revocation side effects failed')
    }
  }

  /** Applies a record; returns true when it is new or newer here. */
  const apply = (key: string, rec: Revocation, s: number): boolean => {
    if (rec.expiresAt <= now()) return false
    const prev = entries.get(key)
    if (prev !== undefined && prev.rec.revokedAt >= rec.revokedAt) {
      prev.seq = Math.max(prev.seq, s)
      return false
    }
    entries.set(key, { rec, seq: s })
    tombstones.delete(key)
    return true
  }

  const onMessage = (text: string): void => {
    let m: { op?: unknown, kind?: unknown, value?: unknown, rec?: unknown }
    try {
      m = JSON.parse(text) as typeof m
    } catch {
      o.logger.warn('ignoring a malformed revocation message')
      return
    }
    if (m.op === 'put') {
      const rec = parseRecord(JSON.stringify(m.rec))
      if (rec === undefined) {
        o.logger.warn('ignoring a malformed revocation message')
        return
      }
      if (apply(storeKey(rec.kind, rec.value), rec, ++seq)) {
        reindex()
        o.logger.info({ kind: rec.kind, value: rec.value, by: rec.by }, 'revocation received')
        notify(rec)
      }
    } else if (m.op === 'delete' && validateRevocationInput(m.kind, m.value, undefined) === undefined) {
      const key = storeKey(m.kind as RevocationKind, m.value as string)
      tombstones.set(key, ++seq)
      if (entries.delete(key)) reindex()
    }
  }

  async function load (): Promise<boolean> {
    const startSeq = seq
    const startedAt = now()
    let listed: Array<[string, string]>
    try {
      // Only a subscribed store can confirm: otherwise a message could be lost right after the read.
      if (o.store.state !== 'up') throw new Error('store unreachable')
      let current = await o.store.get(EPOCH_KEY)
      if (current === undefined) {
        current = randomBytes(12).toString('base64url')
        await o.store.set(EPOCH_KEY, current, lifetimeMs * 2)
      } else {
        await o.store.set(EPOCH_KEY, current, lifetimeMs * 2)
      }
      if (epoch !== undefined && current !== epoch) {
        // The store came back empty: write back what we still know rather than let every revocation lapse.
        // (Deletions made meanwhile were made on the new, empty store, so none is undone here.)
        const t = now()
        let n = 0
        for (const [key, e] of entries) {
          const ttl = e.rec.expiresAt - t
          if (ttl > 0) {
            await o.store.set(key, JSON.stringify(e.rec), ttl)
            n++
          }
        }
        o.logger.warn({ restored: n }, 'the store lost its revocation list; restored it from memory')
      }
      epoch = current
      listed = await o.store.list(KEY_PREFIX)
    } catch (err) {
      lastError = (err as Error).message
      return false
    }
    const fresh: Revocation[] = []
    const next = new Map<string, Entry>()
    for (const [key, text] of listed) {
      const rec = parseRecord(text)
      if (rec === undefined || rec.expiresAt <= startedAt) continue
      next.set(key, { rec, seq: startSeq })
    }
    // Messages applied while the read was in flight are newer than what it saw.
    for (const [key, e] of entries) {
      if (e.seq > startSeq) {
        const n = next.get(key)
        if (n === undefined || n.rec.revokedAt <= e.rec.revokedAt) next.set(key, e)
      }
    }
    for (const [key, s] of tombstones) {
      if (s > startSeq) next.delete(key)
      else tombstones.delete(key)
    }
    for (const [key, e] of next) {
      const prev = entries.get(key)
      if (prev === undefined || prev.rec.revokedAt < e.rec.revokedAt) fresh.push(e.rec)
    }
    entries.clear()
    for (const [k, e] of next) entries.set(k, e)
    reindex()
    confirmedAt = startedAt
    lastError = undefined
    loaded(true)
    // A revocation missed while disconnected still ends what it covers.
    for (const r of fresh) notify(r)
    return true
  }

  const resync = (): Promise<boolean> => {
    if (running !== undefined) {
      again = true
      return running
    }
    running = load().finally(() => {
      running = undefined
      if (again && !closed) {
        again = false
        void resync()
      }
    })
    return running
  }

  const checkNow = (auth: Authenticated): KubegateError | undefined => {
    const t = now()
    if (confirmedAt === undefined || t - confirmedAt > maxStaleMs) return UNCONFIRMED
    if (tokens.size > 0) {
      const r = tokens.get(auth.tokenHash)
      if (r !== undefined && r.expiresAt > t) return REVOKED
    }
    const id = auth.identity
    if (users.size > 0) {
      const r = users.get(id.user)
      if (r !== undefined && r.expiresAt > t && covers(r, id, auth.tokenHash)) return REVOKED
    }
    if (subs.size > 0) {
      const r = subs.get(id.sub)
      if (r !== undefined && r.expiresAt > t && covers(r, id, auth.tokenHash)) return REVOKED
    }
    return undefined
  }

  return {
    async start () {
      offState = o.store.onStateChange((s) => {
        if (s === 'up') void resync()
      })
      try {
        unsubscribe = await o.store.subscribe(CHANNEL, onMessage)
      } catch (err) {
        // The store resubscribes by itself and announces `up`, which resyncs.
        lastError = (err as Error).message
      }
      timer = setInterval(() => {
        void resync()
        // Expired entries are ignored by the check already; dropping them keeps the index small.
        const t = now()
        let dropped = false
        for (const [k, e] of entries) {
          if (e.rec.expiresAt <= t) {
            entries.delete(k)
            dropped = true
          }
        }
        if (dropped) reindex()
      }, o.resyncSeconds * 1000)
      timer.unref()
      void resync()
      return await firstLoad
    },
    check: checkNow,
    covers,
    async add (input) {
      const problem = validateRevocationInput(input.kind, input.value, input.reason)
      if (problem !== undefined) throw new RangeError(problem)
      const t = now()
      const rec: Revocation = {
        kind: input.kind,
        value: input.value,
        revokedAt: t,
        expiresAt: t + lifetimeMs,
        by: input.by,
        ...(input.reason !== undefined ? { reason: input.reason } : {}),
      }
      const key = storeKey(rec.kind, rec.value)
      const text = JSON.stringify(rec)
      await o.store.set(key, text, lifetimeMs)
      if (apply(key, rec, ++seq)) reindex()
      notify(rec)
      try {
        await o.store.publish(CHANNEL, JSON.stringify({ op: 'put', rec }))
      } catch (err) {
        // Stored: the others get it at their next resync (within resyncSeconds).
        o.logger.warn({ err: (err as Error).message }, 'revocation stored but not published')
      }
      return rec
    },
    async remove (kind, value) {
      const key = storeKey(kind, value)
      const existed = await o.store.delete(key)
      tombstones.set(key, ++seq)
      const had = entries.delete(key)
      if (had) reindex()
      try {
        await o.store.publish(CHANNEL, JSON.stringify({ op: 'delete', kind, value }))
      } catch (err) {
        o.logger.warn({ err: (err as Error).message }, 'revocation deleted but not published')
      }
      return existed || had
    },
    list () {
      const t = now()
      return [...entries.values()].map((e) => e.rec).filter((r) => r.expiresAt > t).sort((a, b) => a.revokedAt - b.revokedAt)
    },
    status () {
      const t = now()
      return {
        entries: entries.size,
        confirmedAt,
        stale: confirmedAt === undefined || t - confirmedAt > maxStaleMs,
        lastError,
      }
    },
    resync,
    async close () {
      closed = true
      loaded(false)
      if (timer !== undefined) clearInterval(timer)
      offState?.()
      await unsubscribe?.().catch(() => undefined)
    },
  }
}

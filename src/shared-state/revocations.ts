// The revocation list shared by all replicas: the store holds it, each replica mirrors it for the admission.
import { randomBytes } from 'node:crypto'
import type { Logger } from 'pino'
import type { Authenticated } from '../auth/authenticator.js'
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'
import type { Store } from '../store/types.js'
import { RevocationIndex } from './revocation-index.js'
import {
  acceptsTokensIssuedAfter, covers, KEY_PREFIX, parseRecord, storeKey, validateRevocationInput,
  type Revocation, type RevocationInput, type RevocationKind,
} from './revocation-record.js'

export { validateRevocationInput, type Revocation, type RevocationInput, type RevocationKind }

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
  /** For a user or `sub` revocation: tokens issued (`iat`) after this time (ms) are accepted. */
  acceptsTokensIssuedAfter: (r: Revocation) => number | undefined
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
/** Random id written once per store lifetime: a different one means the store lost its data (restart without persistence). */
const EPOCH_KEY = 'revepoch'
const REVOKED = new KubegateError('KG_ERR_REVOKED', undefined, { failure: 'revoked' })
const UNCONFIRMED = new KubegateError('KG_ERR_STATE_UNAVAILABLE', 'revocation list not confirmed', { failure: 'revocations_stale', retryAfter: 5 })

/**
 * The revocation list: authoritative in the store, mirrored in memory (`RevocationIndex`) so the check on the
 * request path is three map lookups. Kept current by pub/sub, and re-read in full on start, after every
 * reconnect and every `resyncSeconds` (pub/sub loses what is sent while a subscriber is away). If the list
 * cannot be confirmed for `maxStalenessSeconds`, the check fails closed: a revoked user must not get back in
 * because Redis is down. Its steps: sync (a full read), apply (a change), evict (the expired), write back
 * (to a store that lost the list).
 */
class StoreRevocationList implements RevocationList {
  readonly #o: RevocationListOptions
  readonly #now: () => number
  readonly #skewMs: number
  /** How long a record is kept: see `add`. */
  readonly #lifetimeMs: number
  readonly #maxStaleMs: number
  readonly #index: RevocationIndex
  #confirmedAt: number | undefined
  #epoch: string | undefined
  #lastError: string | undefined
  #running: Promise<boolean> | undefined
  #again = false
  #closed = false
  #unsubscribe: (() => Promise<void>) | undefined
  #timer: NodeJS.Timeout | undefined
  #offState: (() => void) | undefined
  #loaded: (v: boolean) => void = () => undefined
  readonly #firstLoad = new Promise<boolean>((resolve) => { this.#loaded = resolve })

  constructor (o: RevocationListOptions) {
    this.#o = o
    this.#now = o.now ?? Date.now
    this.#skewMs = o.clockSkewSeconds * 1000
    // A token issued up to `skew` after the revocation (by the issuer's clock, which may run ahead of ours) is
    // covered, and it may be accepted until exp + skew: so it can be valid until revokedAt + lifetime + 2 skew.
    this.#lifetimeMs = o.maxTokenLifetimeSeconds * 1000 + 2 * this.#skewMs
    this.#maxStaleMs = o.maxStalenessSeconds * 1000
    this.#index = new RevocationIndex(this.#skewMs)
  }

  async start (): Promise<boolean> {
    this.#offState = this.#o.store.onStateChange((s) => {
      if (s === 'up') void this.resync()
    })
    try {
      this.#unsubscribe = await this.#o.store.subscribe(CHANNEL, (m) => this.#onMessage(m))
    } catch (err) {
      // The store resubscribes by itself and announces `up`, which resyncs.
      this.#lastError = (err as Error).message
    }
    this.#timer = setInterval(() => {
      void this.resync()
      this.#index.evictExpired(this.#now())
    }, this.#o.resyncSeconds * 1000)
    this.#timer.unref()
    void this.resync()
    return await this.#firstLoad
  }

  check (auth: Authenticated): KubegateError | undefined {
    const t = this.#now()
    if (this.#isStale(t)) return UNCONFIRMED
    return this.#index.find(auth, t) === undefined ? undefined : REVOKED
  }

  covers (r: Revocation, identity: Identity, tokenHash: string): boolean {
    return covers(r, identity, tokenHash, this.#skewMs)
  }

  acceptsTokensIssuedAfter (r: Revocation): number | undefined {
    return acceptsTokensIssuedAfter(r, this.#skewMs)
  }

  async add (input: RevocationInput): Promise<Revocation> {
    const problem = validateRevocationInput(input.kind, input.value, input.reason)
    if (problem !== undefined) throw new RangeError(problem)
    const t = this.#now()
    const rec: Revocation = {
      kind: input.kind,
      value: input.value,
      revokedAt: t,
      expiresAt: t + this.#lifetimeMs,
      by: input.by,
      ...(input.reason !== undefined ? { reason: input.reason } : {}),
    }
    const key = storeKey(rec.kind, rec.value)
    await this.#o.store.set(key, JSON.stringify(rec), this.#lifetimeMs)
    this.#index.apply(key, rec, this.#now())
    this.#notify(rec)
    // Stored: if the message is lost, the others get it at their next resync (within resyncSeconds).
    await this.#publish({ op: 'put', rec }, 'revocation stored but not published')
    return rec
  }

  async remove (kind: RevocationKind, value: string): Promise<boolean> {
    const key = storeKey(kind, value)
    const existed = await this.#o.store.delete(key)
    const had = this.#index.delete(key)
    await this.#publish({ op: 'delete', kind, value }, 'revocation deleted but not published')
    return existed || had
  }

  list (): Revocation[] {
    const t = this.#now()
    return this.#index.entries().map(([, r]) => r).filter((r) => r.expiresAt > t).sort((a, b) => a.revokedAt - b.revokedAt)
  }

  status (): RevocationStatus {
    return {
      entries: this.#index.size,
      confirmedAt: this.#confirmedAt,
      stale: this.#isStale(this.#now()),
      lastError: this.#lastError,
    }
  }

  resync (): Promise<boolean> {
    if (this.#running !== undefined) {
      this.#again = true
      return this.#running
    }
    this.#running = this.#sync().finally(() => {
      this.#running = undefined
      if (this.#again && !this.#closed) {
        this.#again = false
        void this.resync()
      }
    })
    return this.#running
  }

  async close (): Promise<void> {
    this.#closed = true
    this.#loaded(false)
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#offState?.()
    await this.#unsubscribe?.().catch(() => undefined)
  }

  #isStale (t: number): boolean {
    return this.#confirmedAt === undefined || t - this.#confirmedAt > this.#maxStaleMs
  }

  /** Sync: a full read of the store, merged over what changed meanwhile; confirms the list. */
  async #sync (): Promise<boolean> {
    const startSeq = this.#index.seq
    const startedAt = this.#now()
    let listed: Array<[string, Revocation]>
    try {
      // Only a subscribed store can confirm: otherwise a message could be lost right after the read.
      if (this.#o.store.state !== 'up') throw new Error('store unreachable')
      await this.#checkEpoch()
      listed = await this.#read()
    } catch (err) {
      this.#lastError = (err as Error).message
      return false
    }
    const fresh = this.#index.merge(listed, startSeq, startedAt)
    this.#confirmedAt = startedAt
    this.#lastError = undefined
    this.#loaded(true)
    // A revocation missed while disconnected still ends what it covers.
    for (const r of fresh) this.#notify(r)
    return true
  }

  /** Renews the store's epoch; a changed one means the store lost the list: write back what we hold. */
  async #checkEpoch (): Promise<void> {
    const store = this.#o.store
    let current = await store.get(EPOCH_KEY)
    current ??= randomBytes(12).toString('base64url')
    await store.set(EPOCH_KEY, current, this.#lifetimeMs * 2)
    if (this.#epoch !== undefined && current !== this.#epoch) await this.#writeBack()
    this.#epoch = current
  }

  /**
   * Write back: the store came back empty, so rather than let every revocation lapse, store again those this
   * replica still holds. (Deletions made meanwhile were made on the new, empty store, so none is undone here.)
   */
  async #writeBack (): Promise<void> {
    const t = this.#now()
    let n = 0
    for (const [key, rec] of this.#index.entries()) {
      const ttl = rec.expiresAt - t
      if (ttl > 0) {
        await this.#o.store.set(key, JSON.stringify(rec), ttl)
        n++
      }
    }
    this.#o.logger.warn({ restored: n }, 'the store lost its revocation list; restored it from memory')
  }

  /** Every valid record in the store (malformed ones are skipped). */
  async #read (): Promise<Array<[string, Revocation]>> {
    const out: Array<[string, Revocation]> = []
    for (const [key, text] of await this.#o.store.list(KEY_PREFIX)) {
      const rec = parseRecord(text)
      if (rec !== undefined) out.push([key, rec])
    }
    return out
  }

  /** Apply a change another replica announced. */
  #onMessage (text: string): void {
    let m: { op?: unknown, kind?: unknown, value?: unknown, rec?: unknown }
    try {
      m = JSON.parse(text) as typeof m
    } catch {
      this.#o.logger.warn('ignoring a malformed revocation message')
      return
    }
    if (m.op === 'put') {
      const rec = parseRecord(JSON.stringify(m.rec))
      if (rec === undefined) {
        this.#o.logger.warn('ignoring a malformed revocation message')
        return
      }
      if (this.#index.apply(storeKey(rec.kind, rec.value), rec, this.#now())) {
        this.#o.logger.info({ kind: rec.kind, value: rec.value, by: rec.by }, 'revocation received')
        this.#notify(rec)
      }
    } else if (m.op === 'delete' && validateRevocationInput(m.kind, m.value, undefined) === undefined) {
      this.#index.delete(storeKey(m.kind as RevocationKind, m.value as string))
    }
  }

  async #publish (message: unknown, failure: string): Promise<void> {
    try {
      await this.#o.store.publish(CHANNEL, JSON.stringify(message))
    } catch (err) {
      this.#o.logger.warn({ err: (err as Error).message }, failure)
    }
  }

  #notify (r: Revocation): void {
    try {
      this.#o.onRevoked(r)
    } catch (err) {
      this.#o.logger.error({ err: (err as Error).message }, 'revocation side effects failed')
    }
  }
}

export function createRevocationList (o: RevocationListOptions): RevocationList {
  return new StoreRevocationList(o)
}

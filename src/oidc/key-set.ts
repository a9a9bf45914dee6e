// The issuer's signing keys: JWKS fetch, import, refresh schedule and the unknown-kid refetch policy.
import { createPublicKey, type KeyObject } from 'node:crypto'
import { maxAgeSeconds, type FetchJson } from './http-client.js'

/** One verification key from the issuer's JWKS, imported once as a KeyObject. */
export interface VerificationKey {
  readonly kid: string | undefined
  readonly key: KeyObject
  /** `rsa`, `rsa-pss`, `ec`, `ed25519`, `ed448`. */
  readonly type: string
  /** EC curve (`prime256v1`, ...), when `type` is `ec`. */
  readonly curve: string | undefined
  /** The JWK's own `alg`, which then must match the token's. */
  readonly alg: string | undefined
}

export interface KeySetOptions {
  readonly fetchJson: FetchJson
  /**
   * After a refetch for an unknown `kid` that did not find it (or failed), further unknown-kid refetches
   * wait this long: a flood of forged `kid`s costs at most one fetch per cooldown.
   */
  readonly cooldownMs: number
  /** Upper bound on how long a fetched set is used before a scheduled refresh. */
  readonly maxAgeMs: number
  readonly now?: () => number
  readonly onFetch?: (ok: boolean, error?: unknown) => void
  /** Key ids that were in the previous set and are gone from the new one (tokens they verified are evicted). */
  readonly onKeysRemoved?: (kids: ReadonlySet<string>) => void
}

/** `cooldown`: not fetched, an unknown-kid refetch came up empty too recently; `failed`: fetched and failed. */
export type RefreshOutcome = 'fetched' | 'cooldown' | 'failed'

const MAX_KEYS = 100

/**
 * The issuer's signing keys (one instance per issuer, no shared state). Keys are imported once
 * (createPublicKey from JWK) so verification never re-parses them; the last good set keeps serving when the
 * issuer is down; symmetric (`oct`) and encryption keys are ignored, so no JWKS content can turn a public
 * key into an HMAC secret.
 *
 * Refetch policy for a token naming an unknown `kid` (docs/operations.md, "Key rotation"):
 * - it refetches at once unless an earlier unknown-kid refetch came up empty (or failed) within the
 *   cooldown. Scheduled refreshes, the start-up fetch and refetches that found their key do not start the
 *   cooldown, so the first token signed with a newly rotated key is accepted after one fetch, however
 *   recently the set was fetched;
 * - so unknown-kid refetches are at most one per cooldown that finds nothing, plus one per key the issuer
 *   really adds: a flood of forged `kid`s costs one fetch per cooldown;
 * - `refresh()` ignores the cooldown, for callers whose token came from the issuer itself over verified TLS
 *   (the login callback), for SIGHUP and for the schedule. Every fetch is single flight.
 */
export class KeySet {
  readonly #options: KeySetOptions
  readonly #now: () => number
  #uri: string | undefined
  #byKid = new Map<string, VerificationKey[]>()
  #all: VerificationKey[] = []
  #loaded = false
  #lastSuccess = 0
  /** When the last unknown-kid refetch came up empty or failed: the start of the cooldown. */
  #lastMiss = -Infinity
  #lastError: string | undefined
  #inflight: Promise<boolean> | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false

  constructor (options: KeySetOptions) {
    this.#options = options
    this.#now = options.now ?? Date.now
  }

  /** Synchronous lookup: the keys with this `kid`, or every key for a token without one. */
  get (kid: string | undefined): readonly VerificationKey[] {
    if (kid === undefined) return this.#all
    return this.#byKid.get(kid) ?? []
  }

  /** Whether the current set holds a key with this id. */
  has (kid: string): boolean {
    return this.#byKid.has(kid)
  }

  /** Sets the JWKS URI (from discovery) and loads it; resolves after the first attempt. */
  async setUri (uri: string): Promise<void> {
    this.#uri = uri
    await this.#fetch()
  }

  /**
   * Refetch because a token named `kid`, which the set does not hold. Single flight; refused within the
   * cooldown of the last refetch that did not find its key.
   */
  async refreshForUnknownKid (kid: string): Promise<RefreshOutcome> {
    if (this.#inflight === undefined && this.#inCooldown()) return 'cooldown'
    const ok = await this.#fetch()
    if (!ok || !this.#byKid.has(kid)) this.#lastMiss = this.#now()
    return ok ? 'fetched' : 'failed'
  }

  /** Refresh now, ignoring the cooldown (scheduled refresh, SIGHUP, a token from the issuer itself). */
  refresh (): Promise<boolean> {
    return this.#fetch()
  }

  get loaded (): boolean { return this.#loaded }
  /** ms timestamp of the last successful fetch (0 before the first). */
  get lastSuccess (): number { return this.#lastSuccess }
  get lastError (): string | undefined { return this.#lastError }
  get size (): number { return this.#all.length }

  close (): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  #inCooldown (): boolean {
    return this.#now() - this.#lastMiss < this.#options.cooldownMs
  }

  #fetch (): Promise<boolean> {
    if (this.#inflight !== undefined) return this.#inflight
    if (this.#uri === undefined) return Promise.resolve(false)
    const uri = this.#uri
    this.#inflight = this.#load(uri).finally(() => { this.#inflight = undefined })
    return this.#inflight
  }

  async #load (uri: string): Promise<boolean> {
    try {
      const res = await this.#options.fetchJson(uri)
      const keys = parseJwks(res.body)
      if (keys.length === 0) throw new Error('JWKS holds no usable signing key')
      this.#replace(keys)
      this.#options.onFetch?.(true)
      this.#schedule(this.#refreshDelay(res.headers['cache-control']))
      return true
    } catch (err) {
      this.#lastError = err instanceof Error ? err.message : String(err)
      this.#options.onFetch?.(false, err)
      // Keep the last good keys; retry sooner while nothing is loaded.
      this.#schedule(this.#loaded ? this.#options.cooldownMs : Math.min(this.#options.cooldownMs, 5000))
      return false
    }
  }

  /** Installs a fetched set and reports the key ids it no longer holds. */
  #replace (keys: VerificationKey[]): void {
    const next = indexByKid(keys)
    const removed = new Set<string>()
    for (const kid of this.#byKid.keys()) if (!next.has(kid)) removed.add(kid)
    this.#byKid = next
    this.#all = keys
    if (removed.size > 0) this.#options.onKeysRemoved?.(removed)
    this.#loaded = true
    this.#lastSuccess = this.#now()
    this.#lastError = undefined
  }

  /** Follow the issuer's Cache-Control (Dex: max-age=600), bounded by maxAge and not below the cooldown. */
  #refreshDelay (cacheControl: string | string[] | undefined): number {
    const ttl = maxAgeSeconds(cacheControl)
    const ms = ttl === undefined || ttl === 0 ? this.#options.maxAgeMs : Math.min(ttl * 1000, this.#options.maxAgeMs)
    return Math.max(ms, this.#options.cooldownMs)
  }

  #schedule (ms: number): void {
    if (this.#closed) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { void this.#fetch() }, Math.max(1000, ms))
    this.#timer.unref()
  }
}

export function createKeySet (options: KeySetOptions): KeySet {
  return new KeySet(options)
}

function indexByKid (keys: readonly VerificationKey[]): Map<string, VerificationKey[]> {
  const byKid = new Map<string, VerificationKey[]>()
  for (const k of keys) {
    if (k.kid === undefined) continue
    const list = byKid.get(k.kid)
    if (list === undefined) byKid.set(k.kid, [k])
    else list.push(k)
  }
  return byKid
}

export function parseJwks (body: unknown): VerificationKey[] {
  if (typeof body !== 'object' || body === null || !Array.isArray((body as { keys?: unknown }).keys)) {
    throw new Error('JWKS is not an object with a keys array')
  }
  const out: VerificationKey[] = []
  for (const jwk of (body as { keys: unknown[] }).keys.slice(0, MAX_KEYS)) {
    if (typeof jwk !== 'object' || jwk === null) continue
    const j = jwk as Record<string, unknown>
    if (j.kty !== 'RSA' && j.kty !== 'EC' && j.kty !== 'OKP') continue // never 'oct'
    if (j.use !== undefined && j.use !== 'sig') continue
    if (j.kid !== undefined && typeof j.kid !== 'string') continue
    if (j.alg !== undefined && typeof j.alg !== 'string') continue
    // Import only public members: a JWK that also carries private parts must not become a private key object.
    const pub: Record<string, unknown> = { kty: j.kty }
    for (const m of ['n', 'e', 'crv', 'x', 'y']) if (j[m] !== undefined) pub[m] = j[m]
    let key: KeyObject
    try {
      key = createPublicKey({ key: pub as never, format: 'jwk' })
    } catch {
      continue
    }
    const type = key.asymmetricKeyType ?? ''
    if (type === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) continue
    out.push({
      kid: j.kid as string | undefined,
      key,
      type,
      curve: key.asymmetricKeyDetails?.namedCurve,
      alg: j.alg as string | undefined,
    })
  }
  return out
}

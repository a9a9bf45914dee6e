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
  /** At most one refetch per cooldown when a token names an unknown `kid`. */
  readonly cooldownMs: number
  /** Upper bound on how long a fetched set is used before a scheduled refresh. */
  readonly maxAgeMs: number
  readonly now?: () => number
  readonly onFetch?: (ok: boolean, error?: unknown) => void
  /** Key ids that were in the previous set and are gone from the new one (tokens they verified are evicted). */
  readonly onKeysRemoved?: (kids: ReadonlySet<string>) => void
}

/** `cooldown`: not fetched, the previous fetch was too recent; `failed`: fetched and failed. */
export type RefreshOutcome = 'fetched' | 'cooldown' | 'failed'

export interface KeySet {
  /** Synchronous lookup; undefined when no key has that id. */
  get: (kid: string | undefined) => readonly VerificationKey[]
  /** Sets the JWKS URI (from discovery) and loads it; resolves after the first attempt. */
  setUri: (uri: string) => Promise<void>
  /**
   * Refetch because a token named an unknown key. Single flight; refused (resolves false) within the
   * cooldown of the previous fetch, so a storm of forged `kid`s costs at most one fetch per cooldown.
   */
  refreshForUnknownKid: () => Promise<RefreshOutcome>
  /** Refresh now, ignoring the cooldown (scheduled refresh, SIGHUP). */
  refresh: () => Promise<void>
  readonly loaded: boolean
  /** ms timestamp of the last successful fetch (0 before the first). */
  readonly lastSuccess: number
  readonly lastError: string | undefined
  readonly size: number
  close: () => void
}

const MAX_KEYS = 100

/**
 * The issuer's signing keys. Keys are imported once (createPublicKey from JWK) so verification never
 * re-parses them; the last good set keeps serving when the issuer is down; symmetric (`oct`) and
 * encryption keys are ignored, so no JWKS content can turn a public key into an HMAC secret.
 */
export function createKeySet (options: KeySetOptions): KeySet {
  const now = options.now ?? Date.now
  let uri: string | undefined
  let byKid = new Map<string, VerificationKey[]>()
  let all: VerificationKey[] = []
  let loaded = false
  let lastSuccess = 0
  let lastAttempt = -Infinity
  let lastError: string | undefined
  let inflight: Promise<boolean> | undefined
  let timer: NodeJS.Timeout | undefined
  let closed = false

  function schedule (ms: number): void {
    if (closed) return
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => { void fetchNow() }, Math.max(1000, ms))
    timer.unref()
  }

  function fetchNow (): Promise<boolean> {
    if (inflight !== undefined) return inflight
    if (uri === undefined) return Promise.resolve(false)
    const target = uri
    lastAttempt = now()
    inflight = (async () => {
      try {
        const res = await options.fetchJson(target)
        const keys = parseJwks(res.body)
        if (keys.length === 0) throw new Error('JWKS holds no usable signing key')
        const next = new Map<string, VerificationKey[]>()
        for (const k of keys) {
          if (k.kid === undefined) continue
          const list = next.get(k.kid)
          if (list === undefined) next.set(k.kid, [k])
          else list.push(k)
        }
        const removed = new Set<string>()
        for (const kid of byKid.keys()) if (!next.has(kid)) removed.add(kid)
        byKid = next
        all = keys
        if (removed.size > 0) options.onKeysRemoved?.(removed)
        loaded = true
        lastSuccess = now()
        lastError = undefined
        options.onFetch?.(true)
        // Follow the issuer's Cache-Control (Dex: max-age=600), bounded on both sides.
        const ttl = maxAgeSeconds(res.headers['cache-control'])
        const ms = ttl === undefined || ttl === 0 ? options.maxAgeMs : Math.min(ttl * 1000, options.maxAgeMs)
        schedule(Math.max(ms, options.cooldownMs))
        return true
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err)
        options.onFetch?.(false, err)
        // Keep the last good keys; retry sooner while nothing is loaded.
        schedule(loaded ? options.cooldownMs : Math.min(options.cooldownMs, 5000))
        return false
      } finally {
        inflight = undefined
      }
    })()
    return inflight
  }

  return {
    get (kid) {
      if (kid === undefined) return all
      return byKid.get(kid) ?? []
    },
    async setUri (u) {
      uri = u
      await fetchNow()
    },
    async refreshForUnknownKid () {
      if (inflight === undefined && now() - lastAttempt < options.cooldownMs) return 'cooldown'
      return (await fetchNow()) ? 'fetched' : 'failed'
    },
    async refresh () {
      await fetchNow()
    },
    get loaded () { return loaded },
    get lastSuccess () { return lastSuccess },
    get lastError () { return lastError },
    get size () { return all.length },
    close () {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
    },
  }
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

// Verifies ID tokens of ONE issuer: discovery, its key set, signature and the claim policy; instantiate once per issuer.
import type { Logger } from 'pino'
import { KubegateError } from '../errors.js'
import { checkRegisteredClaims, type AudienceMatchPolicy, type ClaimRules } from './claim-checks.js'
import { discoverJwksUri, discoveryRetryDelayMs } from './discovery.js'
import { createIssuerHttp, type FetchJson } from './http-client.js'
import { decodeJws, keyFits, TokenError, type DecodedJws, type TokenFailure } from './jwt.js'
import { KeySet, type VerificationKey } from './key-set.js'
import { SignatureChecker } from './signature-check.js'
import { createSyncBudget, type SyncBudget } from './sync-budget.js'

export interface OidcVerifierOptions {
  readonly issuerUrl: string
  /** The audience `aud` must contain (`--oidc-client-id`), unless `audiences` is given. */
  readonly clientId: string
  /** AuthenticationConfiguration's `audiences`; default `[clientId]`. */
  readonly audiences?: readonly string[]
  readonly audienceMatchPolicy?: AudienceMatchPolicy
  /** AuthenticationConfiguration's `discoveryURL`; default `<issuerUrl>/.well-known/openid-configuration`. */
  readonly discoveryUrl?: string | undefined
  /** PEM CA bundle for the issuer. */
  readonly ca?: string | undefined
  readonly signingAlgs: readonly string[]
  readonly clockSkewSeconds: number
  readonly jwksRefreshCooldownSeconds: number
  readonly jwksMaxAgeSeconds: number
  readonly jwksStaleAfterSeconds: number
  /** Signature verifications allowed in flight on the thread pool at once; more get 503 (cached tokens are unaffected). */
  readonly maxPendingVerifications: number
  /**
   * Budget for verifying signatures synchronously on the event loop (cheaper than the pool when the process
   * has one core); beyond it verifications go to the pool under `maxPendingVerifications`. Default
   * `createSyncBudget(SYNC_VERIFY_BUDGET)`; tests inject one (manual clock, or share 0 for pool only).
   */
  readonly syncBudget?: SyncBudget
  readonly logger?: Logger | undefined
  readonly now?: () => number
  /** Tests substitute the transport; production uses undici with the configured CA. */
  readonly fetchJson?: FetchJson
  readonly onVerify?: (outcome: VerifyOutcome) => void
  readonly onJwksFetch?: (ok: boolean) => void
  /** The issuer stopped publishing these keys: whatever they verified must stop being trusted. */
  readonly onKeysRemoved?: (kids: ReadonlySet<string>) => void
}

export type VerifyOutcome = 'ok' | TokenFailure | 'issuer_unavailable' | 'busy'

export interface VerifiedToken {
  readonly payload: Readonly<Record<string, unknown>>
  /** `exp`, seconds since the epoch. */
  readonly exp: number
  /** `kid` of the key that verified the signature (undefined for a key without one). */
  readonly kid?: string | undefined
}

export interface VerifierStatus {
  readonly discovered: boolean
  readonly jwksLoaded: boolean
  readonly jwksLastSuccess: number
  readonly jwksKeys: number
  readonly lastError: string | undefined
}

export interface OidcVerifier {
  /** The issuer this verifier is for (`iss` must equal it exactly): what a router by unverified `iss` matches. */
  readonly issuerUrl: string
  /** Starts discovery (retrying until it succeeds); resolves after the first attempt. */
  start: () => Promise<void>
  /** Verifies a compact JWS completely; rejects with a KubegateError (401/503). */
  verify: (token: string) => Promise<VerifiedToken>
  /** Discovery done and a key set loaded that is not older than the stale bound. */
  isReady: () => boolean
  status: () => VerifierStatus
  /**
   * Refetches the key set now, ignoring the unknown-kid cooldown (single flight); resolves whether the fetch
   * succeeded. For SIGHUP and for tokens that came from the issuer itself (the login callback).
   */
  refreshKeys: () => Promise<boolean>
  close: () => Promise<void>
}

/** A key set without `kid` tokens would otherwise make every key a candidate; Dex always sets `kid`. */
const MAX_CANDIDATES = 4

/**
 * Synchronous signature checks may take at most a quarter of the event loop's time (5 ms burst). Measured
 * with the proxy pinned to one core: RS256 ~30 µs synchronously vs ~45 µs on the libuv pool (the pool
 * threads compete with the loop for the same core and add two thread hops), and bench scenario 3 (cold
 * tokens) went from 0.61x to 0.74x of the bare pass-through. Under a forged-token flood, though, valid
 * users fared better with the flood on the pool (scenario 4, quiet machine: p99 ~51 ms vs ~82 ms, valid
 * req/s ~1,150 vs ~690), so a failed signature costs the budget 1 ms: a flood empties it within a few
 * tokens and goes to the pool under the pending cap, as before; valid tokens never pay it.
 * docs/design.md, "Forwarding and verification (measured)".
 */
export const SYNC_VERIFY_BUDGET = { share: 0.25, burstMs: 5, failurePenaltyMs: 1 } as const

/**
 * Verifies ID tokens like kube-apiserver's OIDC authenticator: discovery (`issuer` must match exactly),
 * keys from `jwks_uri`, algorithm allow-list, signature, `iss`, `aud`, `exp`, `nbf`, `iat`. Implemented on
 * node:crypto with KeyObjects imported once, because jose's jwtVerify (WebCrypto) measured 120–190 µs per
 * RS256 token here against ~40 µs; test/unit/oidc runs jose side by side as an oracle (docs/design.md).
 *
 * verify = decode (alg allow-list, header) → candidate keys (key set; unknown kid → refetch policy) →
 * signature (sync budget / pool) → registered claims (claim-checks.ts). Everything is per instance: one
 * IssuerVerifier per issuer, with its own HTTP agent and CA, discovery, key set, budgets and readiness.
 */
export class IssuerVerifier implements OidcVerifier {
  readonly issuerUrl: string
  readonly #options: OidcVerifierOptions
  readonly #now: () => number
  readonly #http: ReturnType<typeof createIssuerHttp> | undefined
  readonly #fetchJson: FetchJson
  readonly #allowedAlgs: ReadonlySet<string>
  readonly #rules: ClaimRules
  readonly #keys: KeySet
  readonly #signatures: SignatureChecker
  #discovered = false
  #discoveryError: string | undefined
  #discoveryTimer: NodeJS.Timeout | undefined
  #closed = false

  constructor (options: OidcVerifierOptions) {
    this.issuerUrl = options.issuerUrl
    this.#options = options
    this.#now = options.now ?? Date.now
    const http = options.fetchJson === undefined ? createIssuerHttp({ ca: options.ca }) : undefined
    this.#http = http
    this.#fetchJson = options.fetchJson ?? (http as NonNullable<typeof http>).fetchJson
    this.#allowedAlgs = new Set(options.signingAlgs)
    this.#rules = {
      issuer: options.issuerUrl,
      audiences: options.audiences ?? [options.clientId],
      audienceMatchPolicy: options.audienceMatchPolicy,
      clockSkewSec: options.clockSkewSeconds,
    }
    this.#keys = this.#createKeySet()
    this.#signatures = new SignatureChecker(options.syncBudget ?? createSyncBudget(SYNC_VERIFY_BUDGET), options.maxPendingVerifications)
  }

  async start (): Promise<void> {
    await this.#discover(0)
  }

  async verify (token: string): Promise<VerifiedToken> {
    const jws = this.#decode(token)
    const keys = await this.#candidateKeys(jws)
    const signer = await this.#signatures.check(jws, keys)
    if (signer === 'busy') this.#busy()
    if (signer === null) this.#fail('bad_signature')
    const exp = this.#checkClaims(jws.payload)
    this.#options.onVerify?.('ok')
    return { payload: jws.payload, exp, kid: signer.kid }
  }

  isReady (): boolean {
    if (!this.#discovered || !this.#keys.loaded) return false
    return this.#now() - this.#keys.lastSuccess <= this.#options.jwksStaleAfterSeconds * 1000
  }

  status (): VerifierStatus {
    return {
      discovered: this.#discovered,
      jwksLoaded: this.#keys.loaded,
      jwksLastSuccess: this.#keys.lastSuccess,
      jwksKeys: this.#keys.size,
      lastError: this.#discoveryError ?? this.#keys.lastError,
    }
  }

  refreshKeys (): Promise<boolean> {
    return this.#keys.refresh()
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#discoveryTimer !== undefined) clearTimeout(this.#discoveryTimer)
    this.#keys.close()
    await this.#http?.close()
  }

  #createKeySet (): KeySet {
    const options = this.#options
    const log = options.logger
    const keys: KeySet = new KeySet({
      fetchJson: this.#fetchJson,
      cooldownMs: options.jwksRefreshCooldownSeconds * 1000,
      maxAgeMs: options.jwksMaxAgeSeconds * 1000,
      now: this.#now,
      onKeysRemoved: options.onKeysRemoved,
      onFetch (ok, error) {
        options.onJwksFetch?.(ok)
        if (ok) log?.debug({ keys: keys.size }, 'jwks loaded')
        else log?.warn({ err: error instanceof Error ? error.message : String(error) }, 'jwks fetch failed')
      },
    })
    return keys
  }

  /** Discovery, retried with back-off until it succeeds or the verifier is closed. */
  async #discover (attempt: number): Promise<void> {
    try {
      const jwksUri = await discoverJwksUri(this.#fetchJson, this.issuerUrl, this.#options.discoveryUrl)
      this.#discovered = true
      this.#discoveryError = undefined
      this.#options.logger?.info({ jwksUri }, 'oidc discovery done')
      await this.#keys.setUri(jwksUri)
    } catch (err) {
      this.#discoveryError = err instanceof Error ? err.message : String(err)
      this.#options.logger?.warn({ err: this.#discoveryError, attempt }, 'oidc discovery failed; retrying')
      this.#scheduleDiscovery(attempt + 1)
    }
  }

  #scheduleDiscovery (attempt: number): void {
    if (this.#closed) return
    this.#discoveryTimer = setTimeout(() => { void this.#discover(attempt) }, discoveryRetryDelayMs(attempt - 1))
    this.#discoveryTimer.unref()
  }

  /** Header and payload decoded, algorithm allow-listed; nothing trusted yet. */
  #decode (token: string): DecodedJws {
    try {
      return decodeJws(token, this.#allowedAlgs)
    } catch (err) {
      if (err instanceof TokenError) this.#fail(err.failure, err.message)
      throw err
    }
  }

  /** Keys that may have signed this token; an unknown `kid` goes through the key set's refetch policy. */
  async #candidateKeys (jws: DecodedJws): Promise<VerificationKey[]> {
    if (!this.#keys.loaded) this.#unavailable('no key set loaded yet')
    if (jws.kid !== undefined && !this.#keys.has(jws.kid)) await this.#refetchForUnknownKid(jws.kid)
    const keys = this.#keys.get(jws.kid).filter((k) => keyFits(k, jws.alg))
    if (keys.length === 0) this.#fail('unknown_kid', 'no key fits the algorithm')
    if (keys.length > MAX_CANDIDATES) this.#fail('unknown_kid', 'token without kid and too many candidate keys')
    return keys
  }

  /** Maybe the issuer rotated: refetch unless in cooldown; still unknown afterwards is a 401 (503 if the fetch failed). */
  async #refetchForUnknownKid (kid: string): Promise<void> {
    const outcome = await this.#keys.refreshForUnknownKid(kid)
    if (this.#keys.has(kid)) return
    if (outcome === 'failed') this.#unavailable('unknown kid and the key set could not be fetched')
    this.#fail('unknown_kid')
  }

  #checkClaims (payload: Readonly<Record<string, unknown>>): number {
    try {
      return checkRegisteredClaims(payload, this.#rules, Math.floor(this.#now() / 1000))
    } catch (err) {
      if (err instanceof TokenError) this.#fail(err.failure, err.message)
      throw err
    }
  }

  #fail (outcome: TokenFailure, detail?: string): never {
    this.#options.onVerify?.(outcome)
    throw new KubegateError(outcome === 'expired' ? 'KG_ERR_TOKEN_EXPIRED' : 'KG_ERR_BAD_TOKEN', detail ?? outcome, { failure: outcome })
  }

  #unavailable (detail: string): never {
    this.#options.onVerify?.('issuer_unavailable')
    throw new KubegateError('KG_ERR_ISSUER_UNAVAILABLE', detail, { retryAfter: 5, failure: 'issuer_unavailable' })
  }

  #busy (): never {
    this.#options.onVerify?.('busy')
    throw new KubegateError('KG_ERR_VERIFIER_BUSY', 'too many pending verifications', { retryAfter: 1, failure: 'busy' })
  }
}

export function createOidcVerifier (options: OidcVerifierOptions): OidcVerifier {
  return new IssuerVerifier(options)
}

import type { Logger } from 'pino'
import { KubegateError } from '../errors.js'
import { createIssuerHttp, type FetchJson } from './http-client.js'
import { checkRegisteredClaims, decodeJws, keyFits, TokenError, verifySignatureAsync, verifySignatureSync, type TokenFailure } from './jwt.js'
import { createKeySet, type KeySet, type VerificationKey } from './key-set.js'
import { createSyncBudget, type SyncBudget } from './sync-budget.js'

export interface OidcVerifierOptions {
  readonly issuerUrl: string
  readonly clientId: string
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
  readonly onVerify?: (outcome: 'ok' | TokenFailure | 'issuer_unavailable' | 'busy') => void
  readonly onJwksFetch?: (ok: boolean) => void
  /** The issuer stopped publishing these keys: whatever they verified must stop being trusted. */
  readonly onKeysRemoved?: (kids: ReadonlySet<string>) => void
}

export interface VerifiedToken {
  readonly payload: Readonly<Record<string, unknown>>
  /** `exp`, seconds since the epoch. */
  readonly exp: number
  /** `kid` of the key that verified the signature (undefined for a key without one). */
  readonly kid?: string | undefined
}

export interface OidcVerifier {
  /** Starts discovery (retrying until it succeeds); resolves after the first attempt. */
  start: () => Promise<void>
  /** Verifies a compact JWS completely; rejects with a KubegateError (401/503). */
  verify: (token: string) => Promise<VerifiedToken>
  /** Discovery done and a key set loaded that is not older than the stale bound. */
  isReady: () => boolean
  status: () => { discovered: boolean, jwksLoaded: boolean, jwksLastSuccess: number, jwksKeys: number, lastError: string | undefined }
  refreshKeys: () => Promise<void>
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
 */
export function createOidcVerifier (options: OidcVerifierOptions): OidcVerifier {
  const now = options.now ?? Date.now
  const http = options.fetchJson === undefined ? createIssuerHttp({ ca: options.ca }) : undefined
  const fetchJson = options.fetchJson ?? (http as NonNullable<typeof http>).fetchJson
  const log = options.logger
  const allowed = new Set(options.signingAlgs)
  const rules = { issuer: options.issuerUrl, audience: options.clientId, clockSkewSec: options.clockSkewSeconds }
  const keySet: KeySet = createKeySet({
    fetchJson,
    cooldownMs: options.jwksRefreshCooldownSeconds * 1000,
    maxAgeMs: options.jwksMaxAgeSeconds * 1000,
    now,
    onKeysRemoved: options.onKeysRemoved,
    onFetch (ok, error) {
      options.onJwksFetch?.(ok)
      if (ok) log?.debug({ keys: keySet.size }, 'jwks loaded')
      else log?.warn({ err: error instanceof Error ? error.message : String(error) }, 'jwks fetch failed')
    },
  })
  let discovered = false
  let discoveryError: string | undefined
  let discoveryTimer: NodeJS.Timeout | undefined
  let closed = false
  let pending = 0
  const syncBudget = options.syncBudget ?? createSyncBudget(SYNC_VERIFY_BUDGET)

  async function discover (attempt: number): Promise<void> {
    const url = options.issuerUrl.replace(/\/$/, '') + '/.well-known/openid-configuration'
    try {
      const res = await fetchJson(url)
      const doc = res.body as Record<string, unknown>
      // OIDC Discovery §4.3: the document's issuer must be identical to the configured one.
      if (typeof doc !== 'object' || doc === null || doc.issuer !== options.issuerUrl) {
        throw new Error(`discovery issuer ${JSON.stringify(doc?.issuer)} does not match the configured issuer`)
      }
      const jwksUri = doc.jwks_uri
      if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) throw new Error('discovery jwks_uri missing or not https')
      discovered = true
      discoveryError = undefined
      log?.info({ jwksUri }, 'oidc discovery done')
      await keySet.setUri(jwksUri)
    } catch (err) {
      discoveryError = err instanceof Error ? err.message : String(err)
      log?.warn({ err: discoveryError, attempt }, 'oidc discovery failed; retrying')
      if (closed) return
      const delay = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
      discoveryTimer = setTimeout(() => { void discover(attempt + 1) }, delay)
      discoveryTimer.unref()
    }
  }

  function fail (outcome: TokenFailure, detail?: string): never {
    options.onVerify?.(outcome)
    throw new KubegateError(outcome === 'expired' ? 'KG_ERR_TOKEN_EXPIRED' : 'KG_ERR_BAD_TOKEN', detail ?? outcome, { failure: outcome })
  }

  function candidates (kid: string | undefined, alg: string): VerificationKey[] {
    const out: VerificationKey[] = []
    for (const k of keySet.get(kid)) if (keyFits(k, alg)) out.push(k)
    return out
  }

  async function verify (token: string): Promise<VerifiedToken> {
    let jws
    try {
      jws = decodeJws(token, allowed)
    } catch (err) {
      if (err instanceof TokenError) fail(err.failure, err.message)
      throw err
    }
    if (!keySet.loaded) {
      options.onVerify?.('issuer_unavailable')
      throw new KubegateError('KG_ERR_ISSUER_UNAVAILABLE', 'no key set loaded yet', { retryAfter: 5, failure: 'issuer_unavailable' })
    }
    let keys = candidates(jws.kid, jws.alg)
    if (keys.length === 0 && jws.kid !== undefined && keySet.get(jws.kid).length === 0) {
      // Unknown kid: maybe the issuer rotated. One refetch per cooldown, shared by all waiting requests.
      const outcome = await keySet.refreshForUnknownKid()
      keys = candidates(jws.kid, jws.alg)
      if (keys.length === 0) {
        if (outcome === 'failed') {
          options.onVerify?.('issuer_unavailable')
          throw new KubegateError('KG_ERR_ISSUER_UNAVAILABLE', 'unknown kid and the key set could not be fetched', { retryAfter: 5, failure: 'issuer_unavailable' })
        }
        fail('unknown_kid')
      }
    }
    if (keys.length === 0) fail('unknown_kid', 'no key fits the algorithm')
    if (keys.length > MAX_CANDIDATES) fail('unknown_kid', 'token without kid and too many candidate keys')
    let ok = false
    let usedKid: string | undefined
    if (syncBudget.allow()) {
      // Same checks as the pool path (verifySignatureSync and verifySignatureAsync share their arguments);
      // charged what it really took, so the budget bounds the loop's share whatever the key costs.
      const t0 = syncBudget.clock()
      try {
        for (const key of keys) {
          if (verifySignatureSync(jws, key)) {
            ok = true
            usedKid = key.kid
            break
          }
        }
      } finally {
        syncBudget.charge(syncBudget.clock() - t0, !ok)
      }
    } else {
      if (pending >= options.maxPendingVerifications) {
        options.onVerify?.('busy')
        throw new KubegateError('KG_ERR_VERIFIER_BUSY', 'too many pending verifications', { retryAfter: 1, failure: 'busy' })
      }
      pending++
      try {
        for (const key of keys) {
          if (await verifySignatureAsync(jws, key)) {
            ok = true
            usedKid = key.kid
            break
          }
        }
      } finally {
        pending--
      }
    }
    if (!ok) fail('bad_signature')
    let exp: number
    try {
      exp = checkRegisteredClaims(jws.payload, rules, Math.floor(now() / 1000))
    } catch (err) {
      if (err instanceof TokenError) fail(err.failure, err.message)
      throw err
    }
    options.onVerify?.('ok')
    return { payload: jws.payload, exp, kid: usedKid }
  }

  return {
    async start () {
      await discover(0)
    },
    verify,
    isReady () {
      if (!discovered || !keySet.loaded) return false
      return now() - keySet.lastSuccess <= options.jwksStaleAfterSeconds * 1000
    },
    status () {
      return {
        discovered,
        jwksLoaded: keySet.loaded,
        jwksLastSuccess: keySet.lastSuccess,
        jwksKeys: keySet.size,
        lastError: discoveryError ?? keySet.lastError,
      }
    },
    refreshKeys: () => keySet.refresh(),
    async close () {
      closed = true
      if (discoveryTimer !== undefined) clearTimeout(discoveryTimer)
      keySet.close()
      await http?.close()
    },
  }
}

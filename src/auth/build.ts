// Builds authentication (one verifier per issuer, claim mapping, token cache) from config; what start and reload share.
import type { Logger } from 'pino'
import { loadAuthentication } from '../authn/from-config.js'
import { FLAGS_SOURCE } from '../authn/from-flags.js'
import { createIssuerSet, type IssuerSet, type VerifierFactory } from '../authn/issuer-set.js'
import type { LoadedAuthentication } from '../authn/load.js'
import type { Config } from '../config/load.js'
import { KubegateError } from '../errors.js'
import { buildImpersonationHeaders } from '../impersonation/headers.js'
import { createOidcVerifier, type OidcVerifier } from '../oidc/verifier.js'
import type { ReadinessCheck } from '../server/probes.js'
import type { Current } from '../swappable.js'
import { createAuthenticator, type Authenticated, type Authenticator } from './authenticator.js'
import { createPassthroughRoute } from './passthrough.js'
import type { TokenReviewer } from './token-review.js'
import { withPassthrough } from './with-passthrough.js'

/**
 * Everything that turns a bearer token into an Authenticated, built together from the issuers (the
 * `--oidc-*` flags or an AuthenticationConfiguration file) and `cache`. The request path sees only
 * `authenticator`: which issuer verified a token is this module's business.
 */
export interface Authentication {
  /** The issuers, their compiled rules and where they came from. */
  readonly loaded: LoadedAuthentication
  /** One verifier per issuer, routed by the token's unverified `iss` (src/authn/issuer-set.ts). */
  readonly issuers: IssuerSet<OidcVerifier>
  /** The first issuer's verifier: the login page's issuer (and the only one with the `--oidc-*` flags). */
  readonly verifier: OidcVerifier
  readonly authenticator: Authenticator
  /** What it was built from; equal fingerprints mean a reload leaves it alone. */
  readonly fingerprint: string
}

export interface AuthenticationDeps {
  readonly logger: Logger
  readonly onJwksFetch?: (ok: boolean) => void
  readonly now?: (() => number) | undefined
  /** Token passthrough (tokenPassthrough.enabled): tokens not from the issuer go to this TokenReview. */
  readonly passthrough?: TokenReviewer | undefined
}

/**
 * The fingerprint of the settings authentication is built from: kubegate's `oidc` and `cache` settings and
 * the issuers' source (the CA file's or the AuthenticationConfiguration file's content included).
 */
export function authenticationFingerprint (config: Config, loaded: LoadedAuthentication = loadAuthentication(config)): string {
  return JSON.stringify([config.oidc, config.cache, loaded.fingerprint])
}

/** One issuer's verifier: its URL, discovery URL, CA and audiences from the model; kubegate's timing from `oidc`. */
function verifierFactory (config: Config, deps: AuthenticationDeps, onKeysRemoved: (kids: ReadonlySet<string>) => void): VerifierFactory<OidcVerifier> {
  const { oidc, cache } = config
  return (a, signingAlgs) => {
    const issuer = a.config.issuer
    return createOidcVerifier({
      issuerUrl: issuer.url,
      clientId: issuer.audiences[0] ?? '',
      audiences: issuer.audiences,
      audienceMatchPolicy: 'MatchAny',
      discoveryUrl: issuer.discoveryURL === '' ? undefined : issuer.discoveryURL,
      ca: issuer.certificateAuthority === '' ? undefined : issuer.certificateAuthority,
      signingAlgs,
      clockSkewSeconds: oidc.clockSkewSeconds,
      jwksRefreshCooldownSeconds: oidc.jwksRefreshCooldownSeconds,
      jwksMaxAgeSeconds: oidc.jwksMaxAgeSeconds,
      jwksStaleAfterSeconds: oidc.jwksStaleAfterSeconds,
      maxPendingVerifications: cache.maxPendingVerifications,
      logger: deps.logger.child({ issuer: issuer.url }),
      now: deps.now,
      onJwksFetch: deps.onJwksFetch,
      onKeysRemoved,
    })
  }
}

/**
 * Builds authentication; nothing is fetched until `issuers.start()`. The mapped identity is cached with the
 * token (key: the token's hash, as with one issuer), so a cached token costs the same whatever the number of
 * issuers and rules. When an issuer unpublishes a key, the cached verdicts it signed are evicted at once.
 * Throws AuthenticationConfigError for a bad AuthenticationConfiguration file.
 */
export function buildAuthentication (config: Config, deps: AuthenticationDeps, loaded: LoadedAuthentication = loadAuthentication(config)): Authentication {
  const { cache, oidc } = config
  // Late-bound: the verifiers report removed keys, the authenticator (built next) evicts what they verified.
  let onKeysRemoved: (kids: ReadonlySet<string>) => void = () => {}
  const guards = { allowReservedIdentities: oidc.allowReservedIdentities, maxGroups: oidc.maxGroups }
  const issuers = createIssuerSet(loaded, guards, verifierFactory(config, deps, (kids) => onKeysRemoved(kids)))
  const authenticator = createAuthenticator({
    verifier: issuers,
    mapClaims: issuers.mapClaims,
    maxEntries: cache.maxEntries,
    maxTtlSeconds: cache.maxTtlSeconds,
    negativeTtlSeconds: cache.negativeTtlSeconds,
    negativeMaxEntries: cache.negativeMaxEntries,
    now: deps.now,
  })
  onKeysRemoved = (kids) => {
    const n = authenticator.evict((a) => a.keyId !== undefined && kids.has(a.keyId))
    deps.logger.info({ removedKeys: kids.size, evictedTokens: n }, 'issuer keys removed')
  }
  const first = [...issuers.router.entries()][0]?.[1].verifier ?? noIssuer(loaded.source)
  // Passthrough routes by the unverified `iss`, as the apiserver does: a token for any configured issuer is
  // kubegate's to verify; any other goes to the TokenReview.
  const reviewer = deps.passthrough
  const serving = reviewer === undefined
    ? authenticator
    : withPassthrough(authenticator, createPassthroughRoute((token) => issuers.route(token) !== undefined, reviewer), reviewer)
  return { loaded, issuers, verifier: first, authenticator: serving, fingerprint: authenticationFingerprint(config, loaded) }
}

/** An AuthenticationConfiguration may list no issuer (upstream allows it): every token is then refused. */
function noIssuer (source: string): OidcVerifier {
  return {
    issuerUrl: '',
    start: async () => {},
    verify: async () => { throw new KubegateError('KG_ERR_BAD_TOKEN', `no issuer configured in ${source}`, { failure: 'unknown_issuer' }) },
    isReady: () => true,
    status: () => ({ discovered: true, jwksLoaded: true, jwksLastSuccess: 0, jwksKeys: 0, lastError: undefined }),
    refreshKeys: async () => false,
    close: async () => {},
  }
}

/** Why an issuer cannot verify tokens right now, or undefined when it can. */
export function verifierNotReady (verifier: OidcVerifier): string | undefined {
  if (verifier.isReady()) return undefined
  const s = verifier.status()
  return !s.discovered ? 'discovery pending' : !s.jwksLoaded ? 'key set not loaded' : 'key set stale'
}

/** Why authentication cannot verify every issuer's tokens right now, or undefined when it can. */
export function authenticationNotReady (a: Authentication): string | undefined {
  for (const [url, issuer] of a.issuers.router.entries()) {
    const problem = verifierNotReady(issuer.verifier)
    if (problem !== undefined) return a.issuers.router.issuers.length === 1 ? problem : `${url}: ${problem}`
  }
  return undefined
}

/**
 * The readiness checks of the serving authentication: `oidc` with the `--oidc-*` flags; with an
 * AuthenticationConfiguration one check per issuer, `oidc <issuer URL>` (a reload may change the list).
 */
export function authenticationReadiness (current: Current<Authentication>): ReadinessCheck[] {
  const a = current.current
  if (a.loaded.configuration.jwt.length <= 1 && a.loaded.source === FLAGS_SOURCE) {
    return [{ name: 'oidc', check: () => authenticationNotReady(current.current) }]
  }
  return [...a.issuers.router.entries()].map(([url, issuer]) => ({ name: `oidc ${url}`, check: () => verifierNotReady(issuer.verifier) }))
}

/**
 * An Authenticator that always acts on the serving one, for the components that keep a reference
 * (revocation evicts through it, the login page verifies through it).
 */
export function servingAuthenticator (current: Current<Authentication>): Authenticator {
  return {
    authenticate: (t) => current.current.authenticator.authenticate(t),
    cached: (t) => current.current.authenticator.cached(t),
    evict: (p) => current.current.authenticator.evict(p),
    get size () { return current.current.authenticator.size },
    get stats () { return current.current.authenticator.stats },
    clear: () => { current.current.authenticator.clear() },
  }
}

/** @internal Benchmark bare pass-through only: a fixed identity, as if verified. */
export function bareAuthenticated (id: { readonly user: string, readonly groups: readonly string[] }): Authenticated {
  const identity = { user: id.user, groups: [...id.groups], uid: undefined, sub: id.user, exp: Number.MAX_SAFE_INTEGER, iat: undefined }
  return { identity, headers: buildImpersonationHeaders(identity), tokenHash: 'bench-bare-pass-through', keyId: undefined }
}

// Builds authentication (OIDC verifier, claim mapping, token cache) from config; what start and reload share.
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import { createClaimMapper } from '../claims/map.js'
import type { Config } from '../config/load.js'
import { buildImpersonationHeaders } from '../impersonation/headers.js'
import { createOidcVerifier, type OidcVerifier } from '../oidc/verifier.js'
import type { ReadinessCheck } from '../server/probes.js'
import type { Current } from '../swappable.js'
import { createAuthenticator, type Authenticated, type Authenticator } from './authenticator.js'
import { createPassthroughRoute } from './passthrough.js'
import type { TokenReviewer } from './token-review.js'
import { singleIssuerRoute } from './token-route.js'
import { withPassthrough } from './with-passthrough.js'

/**
 * Everything that turns a bearer token into an Authenticated, built together from `oidc` and `cache`. The
 * request path sees only `authenticator`: which issuer verified a token is this module's business.
 */
export interface Authentication {
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

/** The fingerprint of the settings authentication is built from (the CA file's content included). */
export function authenticationFingerprint (config: Config): string {
  const ca = config.oidc.caFile === undefined ? undefined : readFileSync(config.oidc.caFile, 'utf8')
  return JSON.stringify([config.oidc, config.cache, ca])
}

function claimMapperFor (oidc: Config['oidc']): ReturnType<typeof createClaimMapper> {
  return createClaimMapper({
    issuerUrl: oidc.issuerUrl,
    usernameClaim: oidc.usernameClaim,
    usernamePrefix: oidc.usernamePrefix,
    groupsClaim: oidc.groupsClaim,
    groupsPrefix: oidc.groupsPrefix,
    uidClaim: oidc.uidClaim,
    requiredClaims: oidc.requiredClaims,
    allowReservedIdentities: oidc.allowReservedIdentities,
    maxGroups: oidc.maxGroups,
  })
}

/**
 * Builds authentication; nothing is fetched until `verifier.start()`. When the issuer unpublishes a key,
 * the cached verdicts it signed are evicted at once.
 */
export function buildAuthentication (config: Config, deps: AuthenticationDeps): Authentication {
  const { oidc, cache } = config
  const { logger } = deps
  const ca = oidc.caFile === undefined ? undefined : readFileSync(oidc.caFile, 'utf8')
  // Late-bound: the verifier reports removed keys, the authenticator (built next) evicts what they verified.
  let onKeysRemoved: (kids: ReadonlySet<string>) => void = () => {}
  const verifier = createOidcVerifier({
    issuerUrl: oidc.issuerUrl,
    clientId: oidc.clientId,
    ca,
    signingAlgs: oidc.signingAlgs,
    clockSkewSeconds: oidc.clockSkewSeconds,
    jwksRefreshCooldownSeconds: oidc.jwksRefreshCooldownSeconds,
    jwksMaxAgeSeconds: oidc.jwksMaxAgeSeconds,
    jwksStaleAfterSeconds: oidc.jwksStaleAfterSeconds,
    maxPendingVerifications: cache.maxPendingVerifications,
    logger,
    now: deps.now,
    onJwksFetch: deps.onJwksFetch,
    onKeysRemoved: (kids) => onKeysRemoved(kids),
  })
  const authenticator = createAuthenticator({
    verifier,
    mapClaims: claimMapperFor(oidc),
    maxEntries: cache.maxEntries,
    maxTtlSeconds: cache.maxTtlSeconds,
    negativeTtlSeconds: cache.negativeTtlSeconds,
    negativeMaxEntries: cache.negativeMaxEntries,
    now: deps.now,
  })
  onKeysRemoved = (kids) => {
    const n = authenticator.evict((a) => a.keyId !== undefined && kids.has(a.keyId))
    logger.info({ removedKeys: kids.size, evictedTokens: n }, 'issuer keys removed')
  }
  // Passthrough routes by the unverified `iss`, as the apiserver does; with several issuers, this route
  // becomes "any configured issuer".
  const reviewer = deps.passthrough
  const serving = reviewer === undefined
    ? authenticator
    : withPassthrough(authenticator, createPassthroughRoute(singleIssuerRoute(oidc.issuerUrl), reviewer), reviewer)
  return { verifier, authenticator: serving, fingerprint: JSON.stringify([oidc, cache, ca]) }
}

/** Why authentication cannot verify tokens right now, or undefined when it can. */
export function authenticationNotReady (a: Authentication): string | undefined {
  const verifier = a.verifier
  if (verifier.isReady()) return undefined
  const s = verifier.status()
  return !s.discovered ? 'discovery pending' : !s.jwksLoaded ? 'key set not loaded' : 'key set stale'
}

/** The `oidc` readiness check, on whichever authentication is serving. */
export function authenticationReadiness (current: Current<Authentication>): ReadinessCheck {
  return { name: 'oidc', check: () => authenticationNotReady(current.current) }
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

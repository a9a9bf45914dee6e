// The `--oidc-*` claim mapping as a function: the flags become one JWT authenticator of the AuthenticationConfiguration model (src/authn/), so flags and file share one code path.
import type { Identity } from '../auth/identity.js'
import { authenticationFromFlags, type OidcFlags } from '../authn/from-flags.js'
import { createIdentityMapper } from '../authn/map-identity.js'

/** The `--oidc-*` mapping settings (the audience and algorithms are the verifier's) and kubegate's own guards. */
export interface ClaimMappingOptions extends Omit<OidcFlags, 'clientId' | 'signingAlgs'> {
  readonly allowReservedIdentities: boolean
  readonly maxGroups: number
}

export type ClaimMapper = (payload: Readonly<Record<string, unknown>>, exp: number) => Identity

/**
 * Maps verified claims to an identity with the rules of kube-apiserver's `--oidc-*` flags, so RBAC
 * bindings written for native OIDC keep working:
 * - username prefix unset: `<issuer>#` unless the claim is `email`; `-` disables prefixing;
 * - claim `email`: `email_verified` must be true when present (absent is accepted, as the apiserver does);
 * - groups claim: a string or an array of strings; the groups prefix applies to each;
 * - required claims must be present with the exact string value.
 * On top of the apiserver (src/authn/guards.ts): the user must be a clean, non-empty string without a comma
 * (an empty Impersonate-User would run the request as kubegate itself), groups too, and `system:` identities
 * are refused unless allowed or neutralised by a prefix.
 */
export function createClaimMapper (options: ClaimMappingOptions): ClaimMapper {
  // The audience and algorithms are the verifier's business; the mapping does not read them.
  const loaded = authenticationFromFlags({ ...options, clientId: 'kubegate', signingAlgs: ['RS256'] }, undefined)
  return createIdentityMapper(loaded.authenticators[0] as NonNullable<typeof loaded.authenticators[0]>, {
    allowReservedIdentities: options.allowReservedIdentities,
    maxGroups: options.maxGroups,
  })
}

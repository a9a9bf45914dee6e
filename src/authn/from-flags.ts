// The `--oidc-*` settings as one JWT authenticator of the AuthenticationConfiguration model, as kube-apiserver converts its flags, so both take one code path.
import { createHash } from 'node:crypto'
import type { Config } from '../config/load.js'
import { compileAuthentication, type LoadedAuthentication } from './load.js'
import type { AuthenticationConfiguration, JwtAuthenticator } from './types.js'

/** The issuer settings of `Config['oidc']` (the rest of that section applies to every issuer). */
export interface OidcFlags {
  readonly issuerUrl: string
  readonly clientId: string
  readonly usernameClaim: string
  readonly usernamePrefix?: string | undefined
  readonly groupsClaim?: string | undefined
  readonly groupsPrefix?: string | undefined
  readonly uidClaim?: string | undefined
  readonly requiredClaims: Readonly<Record<string, string>>
  readonly signingAlgs: Config['oidc']['signingAlgs']
}

/**
 * `--oidc-username-prefix` unset: `<issuer>#` unless the claim is `email`; `-` disables prefixing (the
 * apiserver's flag rules, pkg/kubeapiserver/options/authentication.go).
 */
export function usernamePrefixFromFlags (issuerUrl: string, claim: string, prefix: string | undefined): string {
  if (prefix === undefined) return claim === 'email' ? '' : issuerUrl + '#'
  return prefix === '-' ? '' : prefix
}

export function jwtAuthenticatorFromFlags (oidc: OidcFlags, caPem: string | undefined): JwtAuthenticator {
  return {
    issuer: {
      url: oidc.issuerUrl,
      discoveryURL: '',
      certificateAuthority: caPem ?? '',
      audiences: [oidc.clientId],
      audienceMatchPolicy: 'MatchAny',
      egressSelectorType: '',
    },
    claimValidationRules: Object.entries(oidc.requiredClaims).map(([claim, requiredValue]) => ({ claim, requiredValue, expression: '', message: '' })),
    claimMappings: {
      username: { claim: oidc.usernameClaim, prefix: usernamePrefixFromFlags(oidc.issuerUrl, oidc.usernameClaim, oidc.usernamePrefix), expression: '' },
      groups: oidc.groupsClaim === undefined
        ? { claim: '', prefix: undefined, expression: '' }
        : { claim: oidc.groupsClaim, prefix: oidc.groupsPrefix ?? '', expression: '' },
      uid: { claim: oidc.uidClaim ?? '', expression: '' },
      extra: [],
    },
    userValidationRules: [],
  }
}

/** LoadedAuthentication.source of the flags. */
export const FLAGS_SOURCE = '--oidc-* flags'

/** The flags as a loaded configuration (validated like a file; loadConfig has already checked the flags themselves). */
export function authenticationFromFlags (oidc: OidcFlags, caPem: string | undefined): LoadedAuthentication {
  const configuration: AuthenticationConfiguration = {
    apiVersion: 'apiserver.config.k8s.io/v1',
    jwt: [jwtAuthenticatorFromFlags(oidc, caPem)],
    anonymous: undefined,
  }
  const fingerprint = createHash('sha256').update(JSON.stringify([oidc, caPem ?? null])).digest('base64url')
  return compileAuthentication(FLAGS_SOURCE, configuration, oidc.signingAlgs, fingerprint)
}

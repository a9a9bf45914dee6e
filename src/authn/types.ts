// The AuthenticationConfiguration model (apiserver.config.k8s.io v1 and v1beta1 decode into it), field by field as kube-apiserver's internal type.

/** Versions kubegate reads; both have the same fields (v1 is v1beta1 promoted in Kubernetes 1.34). */
export const API_GROUP = 'apiserver.config.k8s.io'
export const SUPPORTED_VERSIONS = ['v1', 'v1beta1'] as const
export const KIND = 'AuthenticationConfiguration'

export interface AuthenticationConfiguration {
  readonly apiVersion: string
  readonly jwt: readonly JwtAuthenticator[]
  /** Decoded and validated as upstream; kubegate refuses `enabled: true` (see validate.ts). */
  readonly anonymous: AnonymousAuthConfig | undefined
}

export interface AnonymousAuthConfig {
  readonly enabled: boolean
  readonly conditions: ReadonlyArray<{ readonly path: string }>
}

export interface JwtAuthenticator {
  readonly issuer: Issuer
  readonly claimValidationRules: readonly ClaimValidationRule[]
  readonly claimMappings: ClaimMappings
  readonly userValidationRules: readonly UserValidationRule[]
}

export type AudienceMatchPolicy = '' | 'MatchAny'

export interface Issuer {
  /** Must equal the token's `iss` exactly; https. */
  readonly url: string
  /** Where discovery is fetched instead of `<url>/.well-known/openid-configuration` ('' = not set). */
  readonly discoveryURL: string
  /** Inline PEM CA bundle for discovery and JWKS ('' = system roots). */
  readonly certificateAuthority: string
  readonly audiences: readonly string[]
  readonly audienceMatchPolicy: string
  /** Upstream's egress selector; kubegate has none and refuses it (validate.ts). */
  readonly egressSelectorType: string
}

export interface ClaimValidationRule {
  readonly claim: string
  readonly requiredValue: string
  readonly expression: string
  readonly message: string
}

export interface PrefixedClaimOrExpression {
  readonly claim: string
  /** `undefined` = not set (required with `claim`); '' disables prefixing. */
  readonly prefix: string | undefined
  readonly expression: string
}

export interface ClaimOrExpression {
  readonly claim: string
  readonly expression: string
}

export interface ExtraMapping {
  readonly key: string
  readonly valueExpression: string
}

export interface ClaimMappings {
  readonly username: PrefixedClaimOrExpression
  readonly groups: PrefixedClaimOrExpression
  readonly uid: ClaimOrExpression
  readonly extra: readonly ExtraMapping[]
}

export interface UserValidationRule {
  readonly expression: string
  readonly message: string
}

/** The signing algorithms kube-apiserver accepts for AuthenticationConfiguration issuers (oidc.go allowedSigningAlgs). */
export const CONFIG_FILE_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const

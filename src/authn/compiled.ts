// A validated JWT authenticator with its CEL expressions compiled: what the per-token mapping runs.
import type { CompiledExpression } from './cel/compile.js'
import type { ClaimValidationRule, JwtAuthenticator, UserValidationRule } from './types.js'

export interface CompiledJwtAuthenticator {
  readonly config: JwtAuthenticator
  /** Set when `claimMappings.username.expression` is used (else the claim with its prefix). */
  readonly username: CompiledExpression | undefined
  readonly groups: CompiledExpression | undefined
  readonly uid: CompiledExpression | undefined
  readonly extra: ReadonlyArray<{ readonly key: string, readonly expression: CompiledExpression }>
  /** `claim` + `requiredValue` rules, in file order. */
  readonly requiredClaims: ReadonlyArray<{ readonly claim: string, readonly requiredValue: string }>
  readonly claimValidation: ReadonlyArray<{ readonly rule: ClaimValidationRule, readonly expression: CompiledExpression }>
  readonly userValidation: ReadonlyArray<{ readonly rule: UserValidationRule, readonly expression: CompiledExpression }>
}

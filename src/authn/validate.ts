// Validates a decoded AuthenticationConfiguration as kube-apiserver does (every rule of validation.go), adds kubegate's own refusals, and compiles its CEL once.
import { CelCompiler } from './cel/compile.js'
import type { CompiledJwtAuthenticator } from './compiled.js'
import { fieldError, FieldPath, type FieldError } from './field-error.js'
import { validateIssuer } from './validate-issuer.js'
import { RuleValidator } from './validate-rules.js'
import type { AuthenticationConfiguration, JwtAuthenticator } from './types.js'

/** kube-apiserver's cap on jwt authenticators. */
export const MAX_JWT_AUTHENTICATORS = 64

export interface ValidationOptions {
  /** Issuers that must not be configured (the apiserver passes its service-account issuers). */
  readonly disallowedIssuers?: readonly string[]
}

export interface ValidationResult {
  readonly errors: readonly FieldError[]
  /** One per `jwt[]` entry, in file order; complete only when `errors` is empty. */
  readonly authenticators: readonly CompiledJwtAuthenticator[]
}

// eslint-disable-next-line no-control-regex
const UNSAFE_PREFIX = /[\u0000-\u001f\u007f-\u009f,]/

/**
 * kubegate's additions: a prefix is part of every impersonated name, so it must be a clean header value,
 * and a `system:` prefix would make every name reserved (kubegate refuses those at runtime anyway).
 */
function validatePrefixes (a: JwtAuthenticator, path: FieldPath): FieldError[] {
  const errs: FieldError[] = []
  for (const key of ['username', 'groups'] as const) {
    const prefix = a.claimMappings[key].prefix
    if (prefix === undefined || prefix === '') continue
    const p = path.child('claimMappings', key, 'prefix')
    if (UNSAFE_PREFIX.test(prefix) || prefix.trim() !== prefix) errs.push(fieldError('Invalid', p, 'kubegate: must not contain commas, control characters or outer spaces', prefix))
    if (prefix.toLowerCase().startsWith('system:')) errs.push(fieldError('Invalid', p, 'kubegate: must not start with "system:"', prefix))
  }
  return errs
}

function validateJwtAuthenticator (compiler: CelCompiler, a: JwtAuthenticator, path: FieldPath, disallowed: ReadonlySet<string>): { errors: FieldError[], compiled: CompiledJwtAuthenticator } {
  const rules = new RuleValidator(compiler)
  const errors = [...validateIssuer(a.issuer, path.child('issuer'), disallowed)]
  rules.claimValidationRules(a.claimValidationRules, path.child('claimValidationRules'))
  rules.claimMappings(a.claimMappings, path.child('claimMappings'))
  rules.userValidationRules(a.userValidationRules, path.child('userValidationRules'))
  errors.push(...rules.errors, ...validatePrefixes(a, path))
  return { errors, compiled: { config: a, ...rules.draft } }
}

function validateAnonymous (c: AuthenticationConfiguration): FieldError[] {
  if (c.anonymous === undefined) return []
  const path = FieldPath.root('anonymous')
  const errs: FieldError[] = []
  if (!c.anonymous.enabled && c.anonymous.conditions.length > 0) {
    errs.push(fieldError('Invalid', path.child('conditions'), 'enabled should be set to true when conditions are defined', c.anonymous.conditions.map((x) => x.path)))
  }
  if (c.anonymous.enabled) {
    errs.push(fieldError('Forbidden', path.child('enabled'), 'kubegate forwards only authenticated requests; anonymous requests must go to the apiserver directly'))
  }
  return errs
}

export function validateAuthenticationConfiguration (c: AuthenticationConfiguration, options: ValidationOptions = {}, compiler = new CelCompiler()): ValidationResult {
  const root = FieldPath.root('jwt')
  if (c.jwt.length > MAX_JWT_AUTHENTICATORS) {
    return { errors: [fieldError('TooMany', root, `must have at most ${MAX_JWT_AUTHENTICATORS} items`, c.jwt.length)], authenticators: [] }
  }
  const disallowed = new Set(options.disallowedIssuers ?? [])
  const errors: FieldError[] = []
  const authenticators: CompiledJwtAuthenticator[] = []
  const seenIssuers = new Set<string>()
  const seenDiscovery = new Set<string>()
  c.jwt.forEach((a, i) => {
    const path = root.index(i)
    const r = validateJwtAuthenticator(compiler, a, path, disallowed)
    errors.push(...r.errors)
    authenticators.push(r.compiled)
    if (seenIssuers.has(a.issuer.url)) errors.push(fieldError('Duplicate', path.child('issuer', 'url'), '', a.issuer.url))
    seenIssuers.add(a.issuer.url)
    if (a.issuer.discoveryURL !== '') {
      if (seenDiscovery.has(a.issuer.discoveryURL)) errors.push(fieldError('Duplicate', path.child('issuer', 'discoveryURL'), '', a.issuer.discoveryURL))
      seenDiscovery.add(a.issuer.discoveryURL)
    }
  })
  errors.push(...validateAnonymous(c))
  return { errors, authenticators }
}

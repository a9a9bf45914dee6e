// Validation and compilation of claimValidationRules, claimMappings and userValidationRules, rule for rule as kube-apiserver's validation.go.
import type { CelCompiler, CelVariable, CompiledExpression, ExpectedType } from './cel/compile.js'
import { selectsField } from './cel/check.js'
import type { CompiledJwtAuthenticator } from './compiled.js'
import { fieldError, type FieldError, type FieldPath } from './field-error.js'
import type { ClaimMappings, ClaimValidationRule, ExtraMapping, PrefixedClaimOrExpression, UserValidationRule } from './types.js'

type Mutable<T> = { -readonly [K in keyof T]: T[K] }
type Draft = Mutable<Omit<CompiledJwtAuthenticator, 'config'>>

/** Collects errors and compiled expressions for one JWT authenticator. */
export class RuleValidator {
  readonly errors: FieldError[] = []
  readonly draft: Draft = { username: undefined, groups: undefined, uid: undefined, extra: [], requiredClaims: [], claimValidation: [], userValidation: [] }
  readonly #compiler: CelCompiler

  constructor (compiler: CelCompiler) {
    this.#compiler = compiler
  }

  #compile (expression: string, variable: CelVariable, expected: ExpectedType, path: FieldPath): CompiledExpression | undefined {
    const r = this.#compiler.compile(expression, variable, expected)
    if (r.ok) return r.compiled
    this.errors.push(r.problem.type === 'Required'
      ? fieldError('Required', path, r.problem.detail)
      : fieldError('Invalid', path, r.problem.detail, expression))
    return undefined
  }

  claimValidationRules (rules: readonly ClaimValidationRule[], path: FieldPath): void {
    const seenClaims = new Set<string>()
    const seenExpressions = new Set<string>()
    rules.forEach((rule, i) => {
      const p = path.index(i)
      if (rule.claim !== '' && rule.expression !== '') {
        this.errors.push(fieldError('Invalid', p, "claim and expression can't both be set", rule.claim))
      } else if (rule.claim === '' && rule.expression === '') {
        this.errors.push(fieldError('Required', p, 'claim or expression is required'))
      } else if (rule.claim !== '') {
        if (rule.message !== '') this.errors.push(fieldError('Invalid', p.child('message'), 'may not be specified when claim is set', rule.message))
        if (seenClaims.has(rule.claim)) this.errors.push(fieldError('Duplicate', p.child('claim'), '', rule.claim))
        seenClaims.add(rule.claim)
        this.draft.requiredClaims = [...this.draft.requiredClaims, { claim: rule.claim, requiredValue: rule.requiredValue }]
      } else {
        if (rule.requiredValue !== '') {
          this.errors.push(fieldError('Invalid', p.child('requiredValue'), 'may not be specified when expression is set', rule.requiredValue))
        }
        if (seenExpressions.has(rule.expression)) {
          this.errors.push(fieldError('Duplicate', p.child('expression'), '', rule.expression))
          return
        }
        seenExpressions.add(rule.expression)
        const compiled = this.#compile(rule.expression, 'claims', 'bool', p.child('expression'))
        if (compiled !== undefined) this.draft.claimValidation = [...this.draft.claimValidation, { rule, expression: compiled }]
      }
    })
  }

  #prefixedClaimOrExpression (m: PrefixedClaimOrExpression, path: FieldPath, required: boolean): CompiledExpression | undefined {
    if (m.expression !== '' && m.claim !== '') {
      this.errors.push(fieldError('Invalid', path, "claim and expression can't both be set", ''))
    } else if (m.expression === '' && m.claim === '') {
      if (required) this.errors.push(fieldError('Required', path, 'claim or expression is required'))
    } else if (m.expression !== '') {
      if (m.prefix !== undefined) this.errors.push(fieldError('Invalid', path.child('prefix'), 'may not be specified when expression is set', m.prefix))
      return this.#compile(m.expression, 'claims', 'any', path.child('expression'))
    } else if (m.prefix === undefined) {
      this.errors.push(fieldError('Required', path.child('prefix'), 'prefix is required when claim is set. It can be set to an empty string to disable prefixing'))
    }
    return undefined
  }

  claimMappings (m: ClaimMappings, path: FieldPath): void {
    this.draft.username = this.#prefixedClaimOrExpression(m.username, path.child('username'), true)
    this.draft.groups = this.#prefixedClaimOrExpression(m.groups, path.child('groups'), false)
    if (m.uid.claim !== '' && m.uid.expression !== '') {
      this.errors.push(fieldError('Invalid', path.child('uid'), "claim and expression can't both be set", ''))
    } else if (m.uid.expression !== '') {
      this.draft.uid = this.#compile(m.uid.expression, 'claims', 'any', path.child('uid', 'expression'))
    }
    this.#extra(m.extra, path.child('extra'))
    this.#emailVerifiedRule(m, path)
  }

  #extra (extra: readonly ExtraMapping[], path: FieldPath): void {
    const seen = new Set<string>()
    extra.forEach((mapping, i) => {
      const p = path.index(i)
      this.errors.push(...validateExtraKey(mapping.key, p.child('key')))
      if (seen.has(mapping.key)) {
        this.errors.push(fieldError('Duplicate', p.child('key'), '', mapping.key))
        return
      }
      seen.add(mapping.key)
      if (mapping.valueExpression === '') {
        this.errors.push(fieldError('Required', p.child('valueExpression'), ''))
        return
      }
      const compiled = this.#compile(mapping.valueExpression, 'claims', 'any', p.child('valueExpression'))
      if (compiled !== undefined) this.draft.extra = [...this.draft.extra, { key: mapping.key, expression: compiled }]
    })
  }

  /** A username built from `claims.email` must look at `claims.email_verified` somewhere (the apiserver's rule). */
  #emailVerifiedRule (m: ClaimMappings, path: FieldPath): void {
    const username = this.draft.username
    if (username === undefined || !selectsField(username.ast, 'claims', 'email')) return
    const all = [username, ...this.draft.extra.map((e) => e.expression), ...this.draft.claimValidation.map((c) => c.expression)]
    if (all.some((c) => selectsField(c.ast, 'claims', 'email_verified'))) return
    this.errors.push(fieldError('Invalid', path.child('username', 'expression'),
      'claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression',
      m.username.expression))
  }

  userValidationRules (rules: readonly UserValidationRule[], path: FieldPath): void {
    const seen = new Set<string>()
    rules.forEach((rule, i) => {
      const p = path.index(i)
      if (rule.expression === '') {
        this.errors.push(fieldError('Required', p.child('expression'), ''))
        return
      }
      if (seen.has(rule.expression)) {
        this.errors.push(fieldError('Duplicate', p.child('expression'), '', rule.expression))
        return
      }
      seen.add(rule.expression)
      const compiled = this.#compile(rule.expression, 'user', 'bool', p.child('expression'))
      if (compiled !== undefined) this.draft.userValidation = [...this.draft.userValidation, { rule, expression: compiled }]
    })
  }
}

const DNS1123_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'
const DNS1123_SUBDOMAIN = new RegExp(`^${DNS1123_LABEL}(\\.${DNS1123_LABEL})*$`)
const HTTP_PATH = /^[A-Za-z0-9/\-._~%!$&'()*+,;=:]+$/

/** apimachinery's IsDomainPrefixedPath, then lower case, then the Kubernetes-reserved domains. */
export function validateExtraKey (key: string, path: FieldPath): FieldError[] {
  const errs: FieldError[] = []
  const slash = key.indexOf('/')
  if (key === '') {
    errs.push(fieldError('Required', path, ''))
  } else if (slash <= 0 || slash === key.length - 1) {
    errs.push(fieldError('Invalid', path, 'must be a domain-prefixed path (such as "acme.io/foo")', key))
  } else {
    const host = key.slice(0, slash)
    if (host.length > 253) errs.push(fieldError('Invalid', path, 'must be no more than 253 characters', host))
    if (!DNS1123_SUBDOMAIN.test(host)) {
      errs.push(fieldError('Invalid', path, "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", host))
    }
    const rest = key.slice(slash + 1)
    if (!HTTP_PATH.test(rest)) errs.push(fieldError('Invalid', path, "Invalid path: must match the regex [A-Za-z0-9/\\-._~%!$&'()*+,;=:]+", rest))
  }
  if (key !== key.toLowerCase()) errs.push(fieldError('Invalid', path, 'must be lowercase', key))
  const domain = slash > 0 ? key.slice(0, slash) : ''
  if (domain === 'kubernetes.io' || domain.endsWith('.kubernetes.io') || domain === 'k8s.io' || domain.endsWith('.k8s.io')) {
    errs.push(fieldError('Invalid', path, 'k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use', key))
  }
  return errs
}

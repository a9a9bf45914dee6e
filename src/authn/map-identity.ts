// Maps verified claims to kubegate's Identity with kube-apiserver's JWT authenticator semantics (oidc.go AuthenticateToken), then kubegate's guards.
import type { Identity } from '../auth/identity.js'
import { isKubegateError } from '../errors.js'
import { CelEvaluationError } from './cel/compile.js'
import { celToStringList, CelResultError, claimsToCel, userToCel } from './cel/values.js'
import type { CompiledJwtAuthenticator } from './compiled.js'
import { guardIdentity, isCleanValue, refuse, type GuardOptions } from './guards.js'

type Claims = Readonly<Record<string, unknown>>
type CelClaims = ReadonlyMap<string, unknown> | undefined

export type IdentityMapper = (payload: Claims, exp: number) => Identity

/** `claims.<name>` as a string the way encoding/json unmarshals it; kubegate refuses `null` (Go would give ""). */
function stringClaim (claims: Claims, name: string, what: string): string {
  if (!Object.hasOwn(claims, name)) refuse(`${what} claim ${name} not present`)
  const v = claims[name]
  if (typeof v !== 'string') refuse(`${what} claim ${name} is not a string`)
  return v
}

function username (a: CompiledJwtAuthenticator, claims: Claims, cel: CelClaims): string {
  if (a.username !== undefined) {
    const v = a.username.evaluate(cel as ReadonlyMap<string, unknown>)
    if (typeof v !== 'string') refuse('username claim expression must return a string')
    if (v === '') refuse('empty username via CEL expression is not allowed')
    return v
  }
  const m = a.config.claimMappings.username
  const name = stringClaim(claims, m.claim, 'username')
  // kubegate: the claim itself must be a usable name; the apiserver would map "" to the bare prefix.
  if (!isCleanValue(name) || name.includes(',')) refuse(`username claim ${m.claim} is empty, padded, or has a comma or control characters`)
  if (m.claim === 'email' && Object.hasOwn(claims, 'email_verified')) {
    // The apiserver unmarshals into a bool: a string "true" is an error there too.
    if (typeof claims.email_verified !== 'boolean') refuse("parse 'email_verified' claim: not a boolean")
    if (!claims.email_verified) refuse('email not verified')
  }
  return (m.prefix ?? '') + name
}

function groups (a: CompiledJwtAuthenticator, claims: Claims, cel: CelClaims): string[] {
  const m = a.config.claimMappings.groups
  if (m.claim !== '') {
    if (!Object.hasOwn(claims, m.claim)) return []
    const v = claims[m.claim]
    // Go's stringOrArray: `null` unmarshals into a nil slice, so the apiserver maps it to no groups.
    if (v === null) return []
    const list = typeof v === 'string' ? [v] : v
    // Otherwise only a string or an array of strings (an array holding `null` is refused, as json.Unmarshal does).
    if (!Array.isArray(list) || !list.every((g) => typeof g === 'string')) refuse(`groups claim ${m.claim} is neither a string nor an array of strings`)
    // kubegate: each group itself must be usable; the apiserver would keep "" (as the bare prefix).
    if (!list.every(isCleanValue)) refuse(`a group is empty, padded or has control characters (claim ${m.claim})`)
    return list.map((g) => (m.prefix ?? '') + g)
  }
  return a.groups === undefined ? [] : celToStringList(a.groups.evaluate(cel as ReadonlyMap<string, unknown>))
}

function uid (a: CompiledJwtAuthenticator, claims: Claims, cel: CelClaims): string | undefined {
  const claim = a.config.claimMappings.uid.claim
  // `null` unmarshals into Go's "" (no uid, as the apiserver maps it); a missing claim refuses the token.
  if (claim !== '') return Object.hasOwn(claims, claim) && claims[claim] === null ? undefined : stringClaim(claims, claim, 'uid')
  if (a.uid === undefined) return undefined
  const v = a.uid.evaluate(cel as ReadonlyMap<string, unknown>)
  if (typeof v !== 'string') refuse('uid claim expression must return a string')
  return v === '' ? undefined : v
}

function extra (a: CompiledJwtAuthenticator, cel: CelClaims): Record<string, string[]> | undefined {
  let out: Record<string, string[]> | undefined
  for (const { key, expression } of a.extra) {
    const values = celToStringList(expression.evaluate(cel as ReadonlyMap<string, unknown>))
    if (values.length > 0) (out ??= {})[key] = values
  }
  return out
}

function checkClaimRules (a: CompiledJwtAuthenticator, claims: Claims, cel: CelClaims): void {
  for (const { claim, requiredValue } of a.requiredClaims) {
    if (!Object.hasOwn(claims, claim)) refuse(`required claim ${claim} not present in ID token`)
    if (typeof claims[claim] !== 'string') refuse(`parse claim ${claim}: not a string`)
    if (claims[claim] !== requiredValue) refuse(`required claim ${claim} value does not match`)
  }
  for (const { rule, expression } of a.claimValidation) {
    const v = expression.evaluate(cel as ReadonlyMap<string, unknown>)
    if (typeof v !== 'boolean') refuse('validation expression must return a boolean')
    if (!v) refuse(`validation expression '${rule.expression}' failed: ${rule.message}`)
  }
}

function checkUserRules (a: CompiledJwtAuthenticator, id: { user: string, uid: string | undefined, groups: string[], extra: Record<string, string[]> | undefined }): void {
  if (a.userValidation.length === 0) return
  const user = userToCel({ username: id.user, uid: id.uid ?? '', groups: id.groups, extra: id.extra ?? {} })
  for (const { rule, expression } of a.userValidation) {
    const v = expression.evaluate(user)
    if (typeof v !== 'boolean') refuse('validation expression must return a boolean')
    if (!v) refuse(`validation expression '${rule.expression}' failed: ${rule.message}`)
  }
}

function usesCel (a: CompiledJwtAuthenticator): boolean {
  return a.username !== undefined || a.groups !== undefined || a.uid !== undefined || a.extra.length > 0 || a.claimValidation.length > 0
}

/**
 * The mapping of one issuer, in upstream's order: username, groups, uid, extra, required claims, claim
 * validation rules, user validation rules; then kubegate's guards. Any CEL error or wrong result type
 * refuses the token (401); nothing here throws anything but a KubegateError.
 */
export function createIdentityMapper (a: CompiledJwtAuthenticator, guards: GuardOptions): IdentityMapper {
  const cel = usesCel(a)
  return function mapIdentity (payload, exp) {
    try {
      const celClaims = cel ? claimsToCel(payload) : undefined
      const mapped = {
        user: username(a, payload, celClaims),
        groups: groups(a, payload, celClaims),
        uid: uid(a, payload, celClaims),
        extra: extra(a, celClaims),
      }
      checkClaimRules(a, payload, celClaims)
      checkUserRules(a, mapped)
      const sub = typeof payload.sub === 'string' ? payload.sub : ''
      const iat = typeof payload.iat === 'number' ? payload.iat : undefined
      const { user, groups: g, uid: u, extra: x } = mapped
      return guardIdentity(x === undefined ? { user, groups: g, uid: u, sub, exp, iat } : { user, groups: g, uid: u, extra: x, sub, exp, iat }, guards)
    } catch (err) {
      if (isKubegateError(err)) throw err
      if (err instanceof CelEvaluationError || err instanceof CelResultError) refuse(err.message)
      refuse(`claim mapping failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
}

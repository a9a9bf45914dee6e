// Converts between verified claims / kubegate identities and CEL values the way the apiserver's unstructured conversion does (integers are CEL int, objects are maps).
import { isCelList, type CelValue } from '@bufbuild/cel'

/**
 * A JSON claim value as a CEL input: the apiserver decodes claims into unstructured JSON, where a number
 * without a fraction is an int64 and any other number a double; objects become maps. JSON.parse has
 * already turned integers beyond 2^53 into doubles, so those stay doubles here (the apiserver would
 * keep them as int64 up to 2^63: a documented difference for claims no IdP sends).
 */
export function claimToCel (value: unknown): unknown {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : value
  if (Array.isArray(value)) return value.map(claimToCel)
  if (typeof value === 'object' && value !== null) {
    const m = new Map<string, unknown>()
    for (const [k, v] of Object.entries(value)) m.set(k, claimToCel(v))
    return m
  }
  return value
}

/** The top-level claims as the `claims` variable. */
export function claimsToCel (payload: Readonly<Record<string, unknown>>): ReadonlyMap<string, unknown> {
  return claimToCel(payload) as ReadonlyMap<string, unknown>
}

export interface UserInfoValue {
  readonly username: string
  readonly uid: string
  readonly groups: readonly string[]
  readonly extra: Readonly<Record<string, readonly string[]>>
}

/** The `user` variable: every field of kubernetes.UserInfo present (zero values when unset). */
export function userToCel (u: UserInfoValue): ReadonlyMap<string, unknown> {
  return new Map<string, unknown>([
    ['username', u.username],
    ['uid', u.uid],
    ['groups', [...u.groups]],
    ['extra', new Map(Object.entries(u.extra).map(([k, v]) => [k, [...v]]))],
  ])
}

/** The result was not what the mapping needs; the token is refused with this as the reason. */
export class CelResultError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'CelResultError'
  }
}

/**
 * Upstream's convertCELValueToStringList: a string is a one-element list, `""` and `[]` and `null` are
 * "not present" (empty result), empty strings inside a list are dropped, anything else is an error.
 */
export function celToStringList (v: CelValue): string[] {
  if (typeof v === 'string') return v === '' ? [] : [v]
  if (v === null) return []
  if (isCelList(v)) {
    const out: string[] = []
    for (const item of v) {
      if (typeof item !== 'string') throw new CelResultError('expression must return a string or a list of strings')
      if (item !== '') out.push(item)
    }
    return out
  }
  throw new CelResultError('expression must return a string or a list of strings')
}

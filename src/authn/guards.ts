// kubegate's own checks on every mapped identity, on top of what the apiserver maps: clean header values, no `system:` names unless allowed, bounded group lists.
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'

export interface GuardOptions {
  readonly allowReservedIdentities: boolean
  readonly maxGroups: number
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

export function refuse (detail: string): never {
  throw new KubegateError('KG_ERR_BAD_CLAIMS', detail, { failure: 'bad_claims' })
}

/** Case-insensitive: "System:masters" must not slip past a case-sensitive check downstream. */
export function isReserved (name: string): boolean {
  return name.length >= 7 && name.slice(0, 7).toLowerCase() === 'system:'
}

/** A value that travels as one header line as it is: non-empty, no control characters, no outer spaces. */
export function isCleanValue (v: string): boolean {
  return v !== '' && !CONTROL.test(v) && v.trim() === v
}

function reserved (what: string): never {
  throw new KubegateError('KG_ERR_RESERVED_IDENTITY', `reserved ${what}`, { failure: 'reserved_identity' })
}

/**
 * Checks the identity the apiserver's rules produced and returns it with groups de-duplicated. An empty
 * user would run the request as kubegate itself; a comma in a user or group would be split by some
 * consumers of the name; control characters would split header lines.
 */
export function guardIdentity (id: Identity, options: GuardOptions): Identity {
  if (!isCleanValue(id.user) || id.user.includes(',')) refuse('user name is empty, padded, or has a comma or control characters')
  if (!options.allowReservedIdentities && isReserved(id.user)) reserved('user name')
  if (id.groups.length > options.maxGroups) refuse(`more than ${options.maxGroups} groups`)
  const groups: string[] = []
  const seen = new Set<string>()
  for (const g of id.groups) {
    if (!isCleanValue(g) || g.includes(',')) refuse('a group is empty, padded, or has a comma or control characters')
    if (!options.allowReservedIdentities && isReserved(g)) reserved('group')
    if (!seen.has(g)) {
      seen.add(g)
      groups.push(g)
    }
  }
  if (id.uid !== undefined && !isCleanValue(id.uid)) refuse('uid is empty, padded or has control characters')
  for (const [key, values] of Object.entries(id.extra ?? {})) {
    if (values.length > options.maxGroups) refuse(`more than ${options.maxGroups} values for extra ${key}`)
    for (const v of values) if (!isCleanValue(v)) refuse(`a value of extra ${key} is padded or has control characters`)
  }
  return { ...id, groups }
}

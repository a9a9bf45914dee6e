// The --oidc-* claim mapper as it was before the flags became an AuthenticationConfiguration authenticator (src/claims/map.ts at main 4ec8e58): the oracle of the parity test.
import type { Identity } from '../../../src/auth/identity.js'
import { KubegateError } from '../../../src/errors.js'

export interface ClaimMappingOptions {
  readonly issuerUrl: string
  readonly usernameClaim: string
  readonly usernamePrefix?: string | undefined
  readonly groupsClaim?: string | undefined
  readonly groupsPrefix?: string | undefined
  readonly uidClaim?: string | undefined
  readonly requiredClaims: Readonly<Record<string, string>>
  readonly allowReservedIdentities: boolean
  readonly maxGroups: number
}

export type ClaimMapper = (payload: Readonly<Record<string, unknown>>, exp: number) => Identity

/**
 * Characters that may not appear in an identity value: C0 controls, DEL and C1 controls. A CR/LF would
 * split a header line; NUL truncates in some stacks; none of them belongs in a user or group name.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/

function bad (detail: string): never {
  throw new KubegateError('KG_ERR_BAD_CLAIMS', detail, { failure: 'bad_claims' })
}

function isReserved (name: string): boolean {
  // Case-insensitive: "System:masters" must not slip past a case-sensitive check somewhere downstream.
  return name.length >= 7 && name.slice(0, 7).toLowerCase() === 'system:'
}

/**
 * Maps verified claims to an identity with the rules of kube-apiserver's `--oidc-*` flags, so RBAC
 * bindings written for native OIDC keep working:
 * - username prefix unset: `<issuer>#` unless the claim is `email`; `-` disables prefixing;
 * - claim `email`: `email_verified` must be true when present (absent is accepted, as the apiserver does);
 * - groups claim: a string or an array of strings; the groups prefix applies to each;
 * - required claims must be present with the exact string value.
 * On top of the apiserver: the user and every group must be clean, non-empty strings without a comma (an
 * empty Impersonate-User would run the request as kubegate itself; a comma is list syntax as soon as any
 * hop merges header lines, and one Impersonate-Group line must mean one group), and `system:` identities
 * are refused unless allowed or neutralised by a prefix.
 */
export function createClaimMapper (options: ClaimMappingOptions): ClaimMapper {
  const userPrefix = options.usernamePrefix === undefined
    ? (options.usernameClaim === 'email' ? '' : options.issuerUrl + '#')
    : options.usernamePrefix === '-' ? '' : options.usernamePrefix
  const groupsPrefix = options.groupsPrefix ?? ''
  const required = Object.entries(options.requiredClaims)
  const checkEmailVerified = options.usernameClaim === 'email'

  return function mapClaims (payload, exp) {
    for (const [k, v] of required) {
      if (payload[k] !== v) bad(`required claim ${k} missing or different`)
    }
    const raw = payload[options.usernameClaim]
    if (typeof raw !== 'string') bad(`claim ${options.usernameClaim} is not a string`)
    if (raw === '' || raw.trim() !== raw) bad(`claim ${options.usernameClaim} is empty or padded`)
    if (CONTROL.test(raw) || raw.includes(',')) bad(`claim ${options.usernameClaim} has forbidden characters`)
    if (checkEmailVerified && Object.hasOwn(payload, 'email_verified')) {
      const v = payload.email_verified
      // The apiserver unmarshals into a bool: a string "true" is an error there too.
      if (typeof v !== 'boolean') bad('email_verified is not a boolean')
      if (!v) bad('email not verified')
    }
    const user = userPrefix + raw
    if (!options.allowReservedIdentities && isReserved(user)) {
      throw new KubegateError('KG_ERR_RESERVED_IDENTITY', 'reserved user name', { failure: 'reserved_identity' })
    }

    let groups: string[] = []
    if (options.groupsClaim !== undefined && Object.hasOwn(payload, options.groupsClaim)) {
      const g = payload[options.groupsClaim]
      const list = typeof g === 'string' ? [g] : g
      if (!Array.isArray(list)) bad('groups claim is neither a string nor an array')
      if (list.length > options.maxGroups) bad(`more than ${options.maxGroups} groups`)
      const seen = new Set<string>()
      for (const item of list) {
        if (typeof item !== 'string') bad('a group is not a string')
        // A header value cannot carry outer whitespace faithfully (parsers strip it), so " dev" is refused
        // rather than silently becoming "dev" on the wire; "a,b" would read as two groups once merged.
        if (item === '' || CONTROL.test(item) || item.trim() !== item) bad('a group is empty, padded or has control characters')
        if (item.includes(',')) bad('a group has a comma')
        const name = groupsPrefix + item
        if (!options.allowReservedIdentities && isReserved(name)) {
          throw new KubegateError('KG_ERR_RESERVED_IDENTITY', 'reserved group', { failure: 'reserved_identity' })
        }
        if (!seen.has(name)) {
          seen.add(name)
          groups.push(name)
        }
      }
    } else {
      groups = []
    }

    let uid: string | undefined
    if (options.uidClaim !== undefined) {
      const u = payload[options.uidClaim]
      if (typeof u !== 'string' || u === '' || CONTROL.test(u) || u.trim() !== u) bad(`claim ${options.uidClaim} is not a usable uid`)
      uid = u
    }
    const sub = typeof payload.sub === 'string' ? payload.sub : ''
    const iat = typeof payload.iat === 'number' ? payload.iat : undefined
    return { user, groups, uid, sub, exp, iat }
  }
}

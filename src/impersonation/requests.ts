// Reads a client's Impersonate-* header lines into the list of things it asks to act as, as kube-apiserver's impersonation filter does.
import { KubegateError } from '../errors.js'

/**
 * One requested value (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go, buildImpersonationRequests):
 * each is authorized on its own with verb `impersonate` before the identity changes.
 */
export type ImpersonationRequest =
  | { readonly kind: 'User', readonly name: string }
  | { readonly kind: 'ServiceAccount', readonly namespace: string, readonly name: string }
  | { readonly kind: 'Group', readonly name: string }
  | { readonly kind: 'UserExtra', readonly key: string, readonly value: string }
  | { readonly kind: 'UID', readonly name: string }

/** What the client's header lines ask for. */
export type ImpersonationAsk =
  | { readonly kind: 'none' }
  /** A header kubegate never interprets (X-Remote-*, `Impersonate_User`, an unknown `Impersonate-Foo`). */
  | { readonly kind: 'foreign', readonly name: string }
  | { readonly kind: 'impersonate', readonly requests: readonly ImpersonationRequest[], readonly groupsSpecified: boolean }

const USER = 'impersonate-user'
const GROUP = 'impersonate-group'
const UID = 'impersonate-uid'
const EXTRA = 'impersonate-extra-'

/** Node hands header bytes over as Latin-1; Go keeps the bytes: this recovers the UTF-8 text the client sent. */
function utf8 (value: string): string {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'latin1').toString('utf8')
  }
  return value
}

/** Go's url.PathUnescape, keeping the key as sent when it is malformed (as unescapeExtraKey does). */
function unescapeExtraKey (encoded: string): string {
  if (!encoded.includes('%')) return encoded
  if (/%(?![0-9a-fA-F]{2})/.test(encoded)) return encoded
  try {
    return decodeURIComponent(encoded)
  } catch {
    // Percent-escapes that are not UTF-8: Go keeps the bytes; a JavaScript string cannot, so keep the text.
    return encoded
  }
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
const SA_PREFIX = 'system:serviceaccount:'

/** serviceaccount.SplitUsername: `system:serviceaccount:<namespace>:<name>` with a valid namespace and name. */
export function splitServiceAccountUsername (user: string): { namespace: string, name: string } | undefined {
  if (!user.startsWith(SA_PREFIX)) return undefined
  const parts = user.slice(SA_PREFIX.length).split(':')
  if (parts.length !== 2) return undefined
  const [namespace, name] = parts as [string, string]
  if (namespace.length > 63 || !DNS1123_LABEL.test(namespace)) return undefined
  if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) return undefined
  return { namespace, name }
}

/** fmt's %v of a v1.ObjectReference {Kind Namespace Name UID APIVersion ResourceVersion FieldPath}. */
function goObjectReference (r: ImpersonationRequest): string {
  switch (r.kind) {
    case 'User': return `{User  ${r.name}    }`
    case 'ServiceAccount': return `{ServiceAccount ${r.namespace} ${r.name}    }`
    case 'Group': return `{Group  ${r.name}    }`
    case 'UserExtra': return `{UserExtra  ${r.value}  authentication.k8s.io/v1  ${r.key}}`
    case 'UID': return `{UID  ${r.name}  authentication.k8s.io/v1  }`
  }
}

interface Lines { users: string[], groups: string[], uids: string[], extras: Array<[string, string]>, foreign: string | undefined }

function collectLines (raw: readonly string[]): Lines {
  const lines: Lines = { users: [], groups: [], uids: [], extras: [], foreign: undefined }
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const lower = name.toLowerCase()
    const value = raw[i + 1] as string
    if (lower === USER) lines.users.push(utf8(value))
    else if (lower === GROUP) lines.groups.push(utf8(value))
    else if (lower === UID) lines.uids.push(utf8(value))
    else if (lower.startsWith(EXTRA)) lines.extras.push([lower.slice(EXTRA.length), utf8(value)])
    else if (lines.foreign === undefined) {
      const n = lower.replaceAll('_', '-')
      if (n.startsWith('impersonate-') || n.startsWith('x-remote-')) lines.foreign = name
    }
  }
  return lines
}

/**
 * The client's identity header lines, read as the apiserver reads them: the first Impersonate-User and
 * Impersonate-Uid (an empty one is absent), every Impersonate-Group line, every Impersonate-Extra-<key> line
 * with the key lower-cased and percent-decoded. A group, uid or extra without a user is the apiserver's
 * internal error (`requested [...] without impersonating a user`), thrown as KG_ERR_IMPERSONATION_INVALID.
 * Order of the checks: user, groups, extras, uid, as upstream builds them.
 */
export function readImpersonationAsk (raw: readonly string[]): ImpersonationAsk {
  const lines = collectLines(raw)
  if (lines.foreign !== undefined) return { kind: 'foreign', name: lines.foreign }
  const requests: ImpersonationRequest[] = []
  const user = lines.users[0] ?? ''
  if (user !== '') {
    const sa = splitServiceAccountUsername(user)
    requests.push(sa === undefined ? { kind: 'User', name: user } : { kind: 'ServiceAccount', ...sa })
  }
  for (const g of lines.groups) requests.push({ kind: 'Group', name: g })
  for (const [encoded, value] of lines.extras) {
    if (encoded === '') throw invalid('impersonation extra header key must not be empty')
    requests.push({ kind: 'UserExtra', key: unescapeExtraKey(encoded), value })
  }
  const uid = lines.uids[0] ?? ''
  if (uid !== '') requests.push({ kind: 'UID', name: uid })
  if (user === '' && requests.length > 0) {
    throw invalid(`requested [${requests.map(goObjectReference).join(' ')}] without impersonating a user`)
  }
  if (requests.length === 0) return { kind: 'none' }
  return { kind: 'impersonate', requests, groupsSpecified: lines.groups.length > 0 }
}

function invalid (message: string): KubegateError {
  return new KubegateError('KG_ERR_IMPERSONATION_INVALID', message, {
    message: `Internal error occurred: ${message}`,
    failure: 'impersonation_invalid',
  })
}

// The apiserver's Forbidden answer for a denied resource request (responsewriters.Forbidden + apierrors.NewForbidden), word for word.
import { KubegateError } from '../errors.js'

/** authorizer.Attributes of a resource request, as a SubjectAccessReview's `resourceAttributes` carries them. */
export interface ResourceAttributes {
  readonly verb: string
  readonly group: string
  readonly version: string
  readonly resource: string
  readonly subresource: string
  readonly namespace: string
  readonly name: string
}

/** Go's %q for the printable text these messages carry (JSON escaping agrees with it there). */
function goQuote (s: string): string {
  return JSON.stringify(s)
}

/** responsewriters' sanitizer: the message may be shown in a browser. */
function sanitize (s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;')
}

/**
 * `users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`
 * (forbiddenMessage, then NewForbidden's `<group resource> "<name>" is forbidden: <msg>`; `: <reason>` when
 * the authorizer gave one).
 */
export function forbiddenMessage (user: string, a: ResourceAttributes, reason: string): string {
  const resource = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`
  const where = a.namespace === '' ? 'at the cluster scope' : `in the namespace ${goQuote(a.namespace)}`
  let msg = sanitize(`User ${goQuote(user)} cannot ${a.verb} resource ${goQuote(resource)} in API group ${goQuote(a.group)} ${where}`)
  if (reason !== '') msg = `${msg}: ${reason}`
  const groupResource = a.group === '' ? a.resource : `${a.resource}.${a.group}`
  return a.name === '' ? `${groupResource} is forbidden: ${msg}` : `${groupResource} ${goQuote(a.name)} is forbidden: ${msg}`
}

/** The 403 Status the apiserver sends, with its `details` (name, group, kind = the resource). */
export function forbiddenError (user: string, a: ResourceAttributes, reason: string, failure: string): KubegateError {
  return new KubegateError('KG_ERR_IMPERSONATION_FORBIDDEN', reason === '' ? undefined : reason, {
    message: forbiddenMessage(user, a, reason),
    details: { name: a.name, group: a.group, kind: a.resource },
    failure,
  })
}

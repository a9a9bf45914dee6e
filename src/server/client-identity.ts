// The client-identity-header step as kubegate ships it today: client identity headers are refused (403).
import type { Authenticated } from '../auth/authenticator.js'
import { KubegateError } from '../errors.js'
import type { ClientHeaders } from '../impersonation/client-headers.js'
import type { ClientIdentityDecision } from './stages.js'

/**
 * Forwards as the verified identity; a request carrying any `Impersonate-*` or `X-Remote-*` header is
 * refused, since only kubegate may assert an identity to the apiserver. Nested impersonation (issue 13)
 * replaces this step with one that asks the apiserver's RBAC.
 */
export function refuseClientIdentityHeaders (verified: Authenticated, scan: ClientHeaders): ClientIdentityDecision {
  if (scan.identityHeader) return new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' })
  return verified
}

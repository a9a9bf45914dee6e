// The "client identity headers" step: what a verified request's own Impersonate-* lines turn into — the verified identity, an impersonation the apiserver's RBAC allowed, or a refusal.
import type { Authenticated } from '../auth/authenticator.js'
import type { Identity } from '../auth/identity.js'
import { isPassedThrough } from '../auth/token-review.js'
import type { ClientHeaders } from './client-headers.js'
import { KubegateError, toKubegateError } from '../errors.js'
import { decideImpersonation, type Authorize } from './decide.js'
import { buildImpersonationHeaders } from './headers.js'
import { readImpersonationAsk } from './requests.js'
import { requestedImpersonationHeaders } from './requested-headers.js'

/** A request that runs as someone else: the identity it forwards as, and who asked (the verified one). */
export interface ActingAs extends Authenticated {
  /** The verified identity that asked; revocation, rate limits and sessions belong to it. */
  readonly impersonator: Identity
}

export function isActingAs (a: Authenticated): a is ActingAs {
  return (a as Partial<ActingAs>).impersonator !== undefined
}

/** The verified identity whatever the request runs as (the one revocation and rate limits apply to). */
export function authenticatedIdentity (a: Authenticated): Identity {
  return isActingAs(a) ? a.impersonator : a.identity
}

export interface ClientIdentityOptions {
  /** impersonation.nested: false keeps today's 403 for every client identity header. */
  readonly nested: boolean
  /** One SubjectAccessReview question (cached); see src/authz/. */
  readonly authorize: Authorize
}

export type ClientIdentityOutcome = Authenticated | KubegateError

/**
 * Runs after authentication, on plain requests and upgrades alike, with the header scan's identity lines
 * (`Impersonate-*`, `X-Remote-*` as received; most requests carry none and return at once, synchronously).
 *
 * - nested impersonation off, or an identity header kubegate never interprets (X-Remote-*, `Impersonate_User`,
 *   an unknown `Impersonate-Foo`): 403, as before nested impersonation existed;
 * - malformed (a group without a user...): the apiserver's 500;
 * - a token passed through to the apiserver: its lines are rebuilt by kubegate (one per value) and left for
 *   the apiserver to authorize against that token's own identity, as it would if the client called it directly;
 * - otherwise every value is authorized with a SubjectAccessReview for the verified identity, and the request
 *   forwards as the resulting identity, with headers kubegate builds.
 */
export function createClientIdentityStep (options: ClientIdentityOptions) {
  return function clientIdentity (auth: Authenticated, scan: Pick<ClientHeaders, 'identityHeader' | 'identityLines'>): ClientIdentityOutcome | Promise<ClientIdentityOutcome> {
    if (!scan.identityHeader) return auth
    if (!options.nested) return new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' })
    let ask: ReturnType<typeof readImpersonationAsk>
    try {
      ask = readImpersonationAsk(scan.identityLines ?? [])
    } catch (err) {
      return toKubegateError(err)
    }
    if (ask.kind === 'foreign') return new KubegateError('KG_ERR_IDENTITY_HEADERS', ask.name, { failure: 'identity_headers' })
    if (ask.kind === 'none') return auth
    if (isPassedThrough(auth)) {
      try {
        return { ...auth, headers: requestedImpersonationHeaders(ask.requests) }
      } catch (err) {
        return toKubegateError(err)
      }
    }
    return decideImpersonation(auth.identity, ask.requests, ask.groupsSpecified, options.authorize).then(
      (identity): ClientIdentityOutcome => {
        const acting: ActingAs = { identity, headers: buildImpersonationHeaders(identity), tokenHash: auth.tokenHash, keyId: auth.keyId, impersonator: auth.identity }
        return acting
      },
      (err: unknown) => toKubegateError(err),
    )
  }
}

export type ClientIdentityStep = ReturnType<typeof createClientIdentityStep>

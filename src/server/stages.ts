// The request pipeline's plug-in points: what a local route, an admission and the client-identity step implement.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Authenticated } from '../auth/authenticator.js'
import type { KubegateError } from '../errors.js'
import type { ClientHeaders } from '../impersonation/client-headers.js'

/** A request kubegate answers itself (probes, login, admin API). Never forwarded. */
export type LocalHandler = (req: IncomingMessage, res: ServerResponse) => void

/** What an admission knows about the request besides the identity. */
export interface AdmissionContext {
  readonly longRunning: boolean
  readonly upgrade: boolean
}

/**
 * A check run after authentication on every path (revocation, rate limits), on the verified identity.
 * Synchronous by design: it answers from memory, so the cached-token path never waits.
 */
export type Admission = (auth: Authenticated, ctx: AdmissionContext) => KubegateError | undefined

/** The identity a request is forwarded as, or why it is refused. */
export type ClientIdentityDecision = Authenticated | KubegateError

/**
 * The client-identity-header step: given the verified identity and the client's scanned headers (which say
 * whether any `Impersonate-*` / `X-Remote-*` line was sent), decides whom the request is forwarded as.
 * Synchronous when it can answer at once (the hot path), a Promise when it must ask (a SubjectAccessReview).
 * Runs on both paths, after authentication and the admissions (a refused user costs no review).
 */
export type ClientIdentityStep = (verified: Authenticated, scan: ClientHeaders) => ClientIdentityDecision | Promise<ClientIdentityDecision>

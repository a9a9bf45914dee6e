// The access step: turns a finished request into an AccessRecord for the access log, metrics and audit.
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { Authenticated } from '../auth/authenticator.js'
import type { AccessRecord } from '../log/access-record.js'
import { accessLogWriter, type AccessLogWriter } from '../log/logger.js'
import { requestInfo } from '../k8s/request-info.js'

let seq = 0
const ID_PREFIX = process.pid.toString(36) + '-' + Date.now().toString(36) + '-'

/** A request id unique in this process and across restarts; also sent upstream as Audit-ID. */
export function nextRequestId (): string {
  return ID_PREFIX + (++seq).toString(36)
}

const round3 = (ms: number): number => Math.round(ms * 1000) / 1000

/** Builds and emits one AccessRecord per request: to `onAccess` (metrics, audit), then to the log. */
export class AccessRecorder {
  readonly #write: AccessLogWriter
  readonly #clientAddress: (req: IncomingMessage) => string | undefined
  readonly #onAccess: ((r: AccessRecord) => void) | undefined

  constructor (logger: Logger, clientAddress: (req: IncomingMessage) => string | undefined, onAccess: ((r: AccessRecord) => void) | undefined) {
    this.#write = accessLogWriter(logger)
    this.#clientAddress = clientAddress
    this.#onAccess = onAccess
  }

  /**
   * `verified` is the identity authentication established (undefined when refused before or by it);
   * `forwardAs`, when the request ran as another identity (nested impersonation), is recorded as the
   * apiserver's audit does: `user` who authenticated, `impersonatedUser` the target.
   * `queryRefused`: log the path without the query (a refused query may carry credentials; /callback an
   * OAuth code).
   */
  record (req: IncomingMessage, id: string, start: number, status: number, bytes: number, upstreamMs: number | undefined,
    verified: Authenticated | undefined, failure: string | undefined, upgrade: string | undefined, queryRefused = false,
    forwardAs?: Authenticated): void {
    const url = req.url ?? ''
    const info = requestInfo(req.method ?? 'GET', url)
    const q = url.indexOf('?')
    const rec: AccessRecord = {
      requestId: id,
      method: req.method ?? '',
      uri: queryRefused && q !== -1 ? url.slice(0, q) : url,
      ...identities(verified, forwardAs),
      verb: info.verb,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
      status,
      bytes,
      durationMs: round3(performance.now() - start),
      upstreamMs: upstreamMs === undefined ? undefined : round3(upstreamMs),
      remoteAddress: this.#clientAddress(req),
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : undefined,
      upgrade,
      failure,
    }
    this.#onAccess?.(rec)
    // 4xx at info, 5xx at error: a client's mistake is not an operator's alarm.
    this.#write(status >= 500 ? 'error' : 'info', rec)
  }
}

/** The access record's identity fields: the authenticated user, and the impersonated one when there is one. */
function identities (verified: Authenticated | undefined, forwardAs: Authenticated | undefined): Pick<AccessRecord, 'user' | 'groups' | 'impersonatedUser' | 'impersonatedGroups'> {
  const user = verified?.identity.user
  const groups = verified?.identity.groups
  if (forwardAs === undefined || verified === undefined || forwardAs.identity === verified.identity) {
    return { user, groups, impersonatedUser: undefined, impersonatedGroups: undefined }
  }
  return { user, groups, impersonatedUser: forwardAs.identity.user, impersonatedGroups: forwardAs.identity.groups }
}

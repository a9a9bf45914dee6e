import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { accessLogWriter } from '../log/logger.js'
import { parseBearer, takeSubprotocolToken } from '../auth/bearer.js'
import type { Authenticated, Authenticator } from '../auth/authenticator.js'
import { KubegateError, toKubegateError } from '../errors.js'
import { hasCredentialsInQuery, isLongRunning, requestInfo } from '../k8s/request-info.js'
import { sendStatus, sendStatusToSocket } from '../k8s/status.js'
import { scanClientHeaders, type ClientHeaders } from '../impersonation/client-headers.js'
import type { Forwarder, ForwardResult } from '../upstream/forwarder.js'
import type { TokenSource } from '../upstream/token-source.js'
import type { Tunneler, TunnelResult } from '../upstream/tunnel.js'
import type { SessionRegistry } from './sessions.js'

/** A check run after authentication on every path (revocation, rate limits). Synchronous by design. */
export type Admission = (auth: Authenticated, ctx: { longRunning: boolean, upgrade: boolean }) => KubegateError | undefined

/** A request kubegate answers itself (probes, login, admin API). Never forwarded. */
export type LocalHandler = (req: IncomingMessage, res: ServerResponse) => void

/** One line of the access log, also handed to metrics. Contains no header except the allow-listed user agent. */
export interface AccessRecord {
  requestId: string
  method: string
  /** Path and query as sent (queries with credentials are refused and logged without the query). */
  uri: string
  user: string | undefined
  groups: readonly string[] | undefined
  verb: string
  resource: string
  subresource: string
  namespace: string
  name: string
  status: number
  bytes: number
  durationMs: number
  upstreamMs: number | undefined
  remoteAddress: string | undefined
  userAgent: string | undefined
  upgrade: string | undefined
  /** Why kubegate refused or failed the request (`expired`, `bad_signature`, `identity_headers`, ...). */
  failure: string | undefined
}

export interface HandlerDeps {
  readonly authenticator: Authenticator
  readonly forwarder: Forwarder
  readonly tunneler: Tunneler
  readonly token: TokenSource
  readonly sessions: SessionRegistry
  readonly logger: Logger
  readonly maxTokenBytes: number
  readonly maxUpgradesPerUser: number
  readonly admissions?: readonly Admission[]
  /** Exact paths answered locally (`/healthz`, `/readyz`, ...). Matched byte-for-byte, never by prefix. */
  readonly localRoutes?: ReadonlyMap<string, LocalHandler>
  /** Path prefixes owned by kubegate (`/kubegate/`), answered locally; never forwarded. */
  readonly localPrefixes?: ReadonlyArray<readonly [string, LocalHandler]>
  readonly onAccess?: (r: AccessRecord) => void
  readonly onAuthFailure?: (failure: string) => void
  /** Client address for logs and X-Forwarded-For (trusted-proxy aware); defaults to the peer address. */
  readonly clientAddress?: (req: IncomingMessage) => string | undefined
  /** @internal Benchmark bare pass-through (StartOptions.unsafeBenchBarePassThrough): skips authentication. */
  readonly bareIdentity?: Authenticated | undefined
}

export interface RequestHandlers {
  onRequest: (req: IncomingMessage, res: ServerResponse) => void
  onCheckContinue: (req: IncomingMessage, res: ServerResponse) => void
  onUpgrade: (req: IncomingMessage, socket: Socket, head: Buffer) => void
  onConnect: (req: IncomingMessage, socket: Socket) => void
}

/**
 * Refusals by authentication and the admissions after it (401, 403, 429, 503 from the verifier), as opposed
 * to malformed requests (400) and upstream failures: these feed `onAuthFailure` (metrics by reason).
 */
function isAuthOutcome (err: KubegateError): boolean {
  const s = err.statusCode
  return s === 401 || s === 403 || s === 429 || s === 503
}

let seq = 0
const ID_PREFIX = process.pid.toString(36) + '-' + Date.now().toString(36) + '-'
function nextRequestId (): string {
  return ID_PREFIX + (++seq).toString(36)
}

/**
 * The request path: one authentication and admission function shared by plain requests and upgrades
 * (Node delivers upgrades to a different event; a check that runs only on 'request' is the classic bypass).
 *
 *   target check -> local route? -> header scan -> bearer -> authenticate (sync on cache hit) ->
 *   identity-header refusal (403) -> admissions (revocation, rate limits) -> forward | tunnel
 */
export function createRequestHandlers (deps: HandlerDeps): RequestHandlers {
  const { authenticator, forwarder, tunneler, sessions, logger } = deps
  const admissions = deps.admissions ?? []
  const localRoutes = deps.localRoutes ?? new Map<string, LocalHandler>()
  const localPrefixes = deps.localPrefixes ?? []
  const clientAddress = deps.clientAddress ?? ((req: IncomingMessage) => req.socket.remoteAddress)
  const writeAccess = accessLogWriter(logger)

  function access (req: IncomingMessage, id: string, start: number, status: number, bytes: number,
    upstreamMs: number | undefined, auth: Authenticated | undefined, failure: string | undefined, upgrade: string | undefined,
    queryRefused = false): void {
    const url = req.url ?? ''
    const info = requestInfo(req.method ?? 'GET', url)
    const q = url.indexOf('?')
    const rec: AccessRecord = {
      requestId: id,
      method: req.method ?? '',
      uri: queryRefused && q !== -1 ? url.slice(0, q) : url,
      user: auth?.identity.user,
      groups: auth?.identity.groups,
      verb: info.verb,
      resource: info.resource,
      subresource: info.subresource,
      namespace: info.namespace,
      name: info.name,
      status,
      bytes,
      durationMs: Math.round((performance.now() - start) * 1000) / 1000,
      upstreamMs: upstreamMs === undefined ? undefined : Math.round(upstreamMs * 1000) / 1000,
      remoteAddress: clientAddress(req),
      userAgent: typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'].slice(0, 256) : undefined,
      upgrade,
      failure,
    }
    deps.onAccess?.(rec)
    // 4xx at info, 5xx at error: a client's mistake is not an operator's alarm.
    writeAccess(status >= 500 ? 'error' : 'info', rec)
  }

  /** Bearer parsing and authentication; shared by both paths. Throws KubegateError. */
  function authenticate (scan: ClientHeaders, subprotocolToken: string | undefined): Authenticated | Promise<Authenticated> {
    if (deps.bareIdentity !== undefined) return deps.bareIdentity
    if (scan.authorizationCount > 1) throw new KubegateError('KG_ERR_DUPLICATE_AUTHORIZATION', undefined, { failure: 'duplicate_authorization' })
    let token: string | undefined
    if (scan.authorization !== undefined) {
      if (subprotocolToken !== undefined) throw new KubegateError('KG_ERR_BAD_SUBPROTOCOL', 'token in both Authorization and subprotocol', { failure: 'bad_subprotocol' })
      // Refuse oversized tokens before any parsing or hashing.
      if (scan.authorization.length > deps.maxTokenBytes + 7) throw new KubegateError('KG_ERR_BAD_TOKEN', 'token too large', { failure: 'token_too_large' })
      token = parseBearer(scan.authorization)
      if (token === undefined) throw new KubegateError('KG_ERR_NO_TOKEN', 'not a bearer token', { failure: 'no_token' })
    } else {
      token = subprotocolToken
    }
    if (token === undefined) throw new KubegateError('KG_ERR_NO_TOKEN', 'no token', { failure: 'no_token' })
    if (token.length > deps.maxTokenBytes) throw new KubegateError('KG_ERR_BAD_TOKEN', 'token too large', { failure: 'token_too_large' })
    return authenticator.authenticate(token)
  }

  /** Checks that follow authentication; shared by both paths. Returns an error or undefined. */
  function admit (auth: Authenticated, scan: ClientHeaders, longRunning: boolean, upgrade: boolean): KubegateError | undefined {
    if (scan.identityHeader) return new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' })
    for (const a of admissions) {
      const e = a(auth, { longRunning, upgrade })
      if (e !== undefined) return e
    }
    return undefined
  }

  /** Upstream header list: the client's filtered headers, then kubegate's own, added last. */
  function upstreamHeaders (req: IncomingMessage, scan: ClientHeaders, auth: Authenticated, id: string): string[] {
    const h = scan.forward
    h.push('Authorization', deps.token.header)
    for (let i = 0; i < auth.headers.length; i++) h.push(auth.headers[i] as string)
    const addr = clientAddress(req)
    if (addr !== undefined) h.push('X-Forwarded-For', addr)
    h.push('Audit-ID', id)
    return h
  }

  function refuse (req: IncomingMessage, res: ServerResponse, id: string, start: number, err: KubegateError, queryRefused = false,
    bodyless = false): void {
    if (isAuthOutcome(err)) deps.onAuthFailure?.(err.failure ?? err.code)
    if (err.statusCode >= 500) logger.warn({ requestId: id, code: err.code, detail: err.detail }, 'request failed')
    else if (err.detail !== undefined) logger.debug({ requestId: id, code: err.code, detail: err.detail }, 'request refused')
    // The body was not read: close the connection rather than let Node drain an arbitrary upload. A request
    // known to carry no body (no Content-Length > 0, no Transfer-Encoding, from the same raw header scan the
    // parser framed it with) leaves nothing to drain, so its connection is kept: closing it turned every
    // refused request into a TLS handshake, and a flood of forged tokens into a handshake flood (bench
    // scenario 4, quick runs: 89 forged requests/s refused before, about 800/s after).
    sendStatus(res, err, !bodyless)
    access(req, id, start, err.statusCode, 0, undefined, undefined, err.failure ?? err.code, undefined, queryRefused)
  }

  function localRoute (path: string): LocalHandler | undefined {
    const exact = localRoutes.get(path)
    if (exact !== undefined) return exact
    for (const [prefix, h] of localPrefixes) if (path.startsWith(prefix)) return h
    return undefined
  }

  function handle (req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const start = performance.now()
    const id = nextRequestId()
    const url = req.url ?? ''
    // llhttp accepts any "HTTP/x.y"; only 1.0 and 1.1 have the framing this proxy reasons about.
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) {
      refuse(req, res, id, start, new KubegateError('KG_ERR_HTTP_VERSION', req.httpVersion, { failure: 'bad_version' }), true)
      return
    }
    // Origin-form only (invariant 4): absolute-form and "//host" never pick a destination.
    if (url.charCodeAt(0) !== 0x2f || url.charCodeAt(1) === 0x2f) {
      refuse(req, res, id, start, new KubegateError('KG_ERR_BAD_TARGET', undefined, { failure: 'bad_target' }), true)
      return
    }
    const q = url.indexOf('?')
    const local = localRoute(q === -1 ? url : url.slice(0, q))
    if (local !== undefined) {
      // Logged without the query: /callback carries an OAuth authorization code and state there.
      res.once('finish', () => access(req, id, start, res.statusCode, 0, undefined, undefined, undefined, undefined, true))
      local(req, res)
      return
    }
    if (q !== -1 && hasCredentialsInQuery(url)) {
      refuse(req, res, id, start, new KubegateError('KG_ERR_CREDENTIALS_IN_QUERY', undefined, { failure: 'credentials_in_query' }), true)
      return
    }
    const scan = scanClientHeaders(req.rawHeaders)
    let result: Authenticated | Promise<Authenticated>
    try {
      result = authenticate(scan, undefined)
    } catch (err) {
      refuse(req, res, id, start, toKubegateError(err), false, !scan.hasBody)
      return
    }
    if (result instanceof Promise) {
      result.then(
        (auth) => proceed(req, res, scan, auth, id, start, expectContinue),
        (err: unknown) => refuse(req, res, id, start, toKubegateError(err), false, !scan.hasBody),
      )
    } else {
      proceed(req, res, scan, result, id, start, expectContinue)
    }
  }

  function proceed (req: IncomingMessage, res: ServerResponse, scan: ClientHeaders, auth: Authenticated, id: string,
    start: number, expectContinue: boolean): void {
    if (res.destroyed) return
    const url = req.url as string
    const longRunning = isLongRunning(url)
    const denied = admit(auth, scan, longRunning, false)
    if (denied !== undefined) {
      refuse(req, res, id, start, denied, false, !scan.hasBody)
      return
    }
    let unregister: (() => void) | undefined
    let stop: (() => void) | undefined
    // Ending a session ends the stream cleanly (terminating chunk), so a watching client re-lists.
    if (longRunning) unregister = sessions.add('stream', auth.identity, auth.tokenHash, () => { if (stop !== undefined) stop(); else res.destroy() })
    if (expectContinue) res.writeContinue()
    stop = forwarder.forward(req, res, upstreamHeaders(req, scan, auth, id), scan.hasBody, longRunning, (r: ForwardResult) => {
      unregister?.()
      const failure = r.error?.failure ?? (r.aborted ? 'client_closed' : undefined)
      if (r.error !== undefined) logger.warn({ requestId: id, code: r.error.code, detail: r.error.detail }, 'upstream failed')
      access(req, id, start, r.status, r.bytes, r.upstreamMs, auth, failure, undefined)
    })
  }

  function onUpgrade (req: IncomingMessage, socket: Socket, head: Buffer): void {
    const start = performance.now()
    const id = nextRequestId()
    const url = req.url ?? ''
    const fail = (err: KubegateError, auth?: Authenticated): void => {
      if (isAuthOutcome(err)) deps.onAuthFailure?.(err.failure ?? err.code)
      if (err.statusCode >= 500) logger.warn({ requestId: id, code: err.code, detail: err.detail }, 'upgrade failed')
      else if (err.detail !== undefined) logger.debug({ requestId: id, code: err.code, detail: err.detail }, 'upgrade refused')
      sendStatusToSocket(socket, err)
      access(req, id, start, err.statusCode, 0, undefined, auth, err.failure ?? err.code, req.headers.upgrade, true)
    }
    socket.on('error', () => socket.destroy())
    if (req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) {
      fail(new KubegateError('KG_ERR_HTTP_VERSION', req.httpVersion, { failure: 'bad_version' }))
      return
    }
    if (url.charCodeAt(0) !== 0x2f || url.charCodeAt(1) === 0x2f) {
      fail(new KubegateError('KG_ERR_BAD_TARGET', undefined, { failure: 'bad_target' }))
      return
    }
    const q = url.indexOf('?')
    if (localRoute(q === -1 ? url : url.slice(0, q)) !== undefined) {
      fail(new KubegateError('KG_ERR_NOT_FOUND', undefined, { failure: 'local_upgrade' }))
      return
    }
    if (q !== -1 && hasCredentialsInQuery(url)) {
      fail(new KubegateError('KG_ERR_CREDENTIALS_IN_QUERY', undefined, { failure: 'credentials_in_query' }))
      return
    }
    const scan = scanClientHeaders(req.rawHeaders)
    const upgrade = scan.upgrade ?? ''
    const lower = upgrade.toLowerCase()
    // Only what kubectl uses; h2c and anything else would need a protocol-aware proxy (invariant 5).
    if (lower !== 'websocket' && lower !== 'spdy/3.1') {
      fail(new KubegateError('KG_ERR_UPGRADE_UNSUPPORTED', upgrade, { failure: 'upgrade_unsupported' }))
      return
    }
    if (scan.hasBody) {
      fail(new KubegateError('KG_ERR_BAD_REQUEST', 'upgrade request with a body', { failure: 'bad_request' }))
      return
    }
    const sub = lower === 'websocket' ? takeSubprotocolToken(scan.wsProtocols) : { kind: 'none' as const }
    if (sub.kind === 'invalid') {
      fail(new KubegateError('KG_ERR_BAD_SUBPROTOCOL', sub.detail, { failure: 'bad_subprotocol' }))
      return
    }
    let result: Authenticated | Promise<Authenticated>
    try {
      result = authenticate(scan, sub.kind === 'token' ? sub.token : undefined)
    } catch (err) {
      fail(toKubegateError(err))
      return
    }
    // Sec-WebSocket-Protocol means something only on a WebSocket upgrade; on SPDY it is dropped, so a bearer
    // protocol there can never travel upstream (invariant 7).
    const protocols = lower !== 'websocket' ? undefined : sub.kind === 'token' ? sub.rest : scan.wsProtocols
    const go = (auth: Authenticated): void => {
      if (socket.destroyed) return
      const denied = admit(auth, scan, true, true)
      if (denied !== undefined) {
        fail(denied, auth)
        return
      }
      // Counted from the moment the attempt starts (not only once spliced), so a burst of parallel
      // upgrades cannot pass the check together before any of them is registered.
      if (sessions.count('upgrade', auth.identity.user) >= deps.maxUpgradesPerUser) {
        fail(new KubegateError('KG_ERR_TOO_MANY_STREAMS', undefined, { failure: 'too_many_streams', retryAfter: 5 }), auth)
        return
      }
      let closeTunnel: (() => void) | undefined
      const unregister = sessions.add('upgrade', auth.identity, auth.tokenHash, () => closeTunnel?.())
      closeTunnel = tunneler.tunnel(
        { req, client: socket, head, headers: upstreamHeaders(req, scan, auth, id), upgrade, wsProtocols: protocols },
        (r: TunnelResult) => {
          unregister()
          if (r.error !== undefined) logger.warn({ requestId: id, code: r.error.code, detail: r.error.detail }, 'upgrade failed')
          access(req, id, start, r.status, r.bytesOut, r.upstreamMs, auth, r.error?.failure, upgrade)
        },
      )
    }
    if (result instanceof Promise) result.then(go, (err: unknown) => fail(toKubegateError(err)))
    else go(result)
  }

  return {
    onRequest: (req, res) => handle(req, res, false),
    onCheckContinue: (req, res) => handle(req, res, true),
    onUpgrade,
    onConnect (req, socket) {
      // CONNECT would turn kubegate into a generic tunnel; refuse it on the raw socket.
      sendStatusToSocket(socket, new KubegateError('KG_ERR_METHOD_NOT_ALLOWED'))
      access(req, nextRequestId(), performance.now(), 405, 0, undefined, undefined, 'connect', undefined, true)
    },
  }
}

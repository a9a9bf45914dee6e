// The request path shared by plain requests and upgrades, as named steps from the request line to the access record.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from 'pino'
import { parseBearer, takeSubprotocolToken } from '../auth/bearer.js'
import type { Authenticated, Authenticator } from '../auth/authenticator.js'
import { KubegateError, toKubegateError } from '../errors.js'
import { isLongRunning } from '../k8s/request-info.js'
import { sendStatus, sendStatusToSocket } from '../k8s/status.js'
import { scanClientHeaders, type ClientHeaders } from '../impersonation/client-headers.js'
import type { AccessRecord } from '../log/access-record.js'
import type { Current } from '../swappable.js'
import type { Forwarder, ForwardResult } from '../upstream/forwarder.js'
import type { TokenSource } from '../upstream/token-source.js'
import type { Tunneler, TunnelResult } from '../upstream/tunnel.js'
import { AccessRecorder, nextRequestId } from './access.js'
import { authenticateWithinBudget } from './budgeted-authentication.js'
import { refuseClientIdentityHeaders } from './client-identity.js'
import type { FailedAuthBudget } from './failed-auth-budget.js'
import { checkHttpVersion, checkOriginForm, checkQueryCredentials, LocalRoutes } from './request-target.js'
import type { SessionRegistry } from './sessions.js'
import type { Tarpit } from './tarpit.js'
import type { Admission, AdmissionContext, ClientIdentityDecision, ClientIdentityStep, LocalHandler } from './stages.js'
import { buildUpstreamHeaders, peerAddress } from './upstream-headers.js'

export type { AccessRecord } from '../log/access-record.js'
export type { Admission, AdmissionContext, ClientIdentityStep, LocalHandler } from './stages.js'

export interface HandlerDeps {
  /** The authentication serving now (a reload swaps it); the handler knows nothing of issuers. */
  readonly authentication: Current<{ readonly authenticator: Authenticator }>
  /** The upstream serving now (a reload swaps it). */
  readonly upstream: Current<{ readonly forwarder: Forwarder, readonly tunneler: Tunneler }>
  /** kubegate's service-account token source serving now. */
  readonly token: Current<TokenSource>
  readonly sessions: SessionRegistry
  readonly logger: Logger
  readonly maxTokenBytes: number
  readonly maxUpgradesPerUser: number
  /** Whom to forward as, given the verified identity and the client's identity headers. Default: refuse them (403). */
  readonly clientIdentity?: ClientIdentityStep
  readonly admissions?: readonly Admission[]
  /** Exact paths answered locally (`/healthz`, `/readyz`, ...). Matched byte-for-byte, never by prefix. */
  readonly localRoutes?: ReadonlyMap<string, LocalHandler>
  /** Path prefixes owned by kubegate (`/kubegate/`), answered locally; never forwarded. */
  readonly localPrefixes?: ReadonlyArray<readonly [string, LocalHandler]>
  readonly onAccess?: (r: AccessRecord) => void
  readonly onAuthFailure?: (failure: string) => void
  /** Client address for logs and X-Forwarded-For (trusted-proxy aware); defaults to the peer address. */
  readonly clientAddress?: (req: IncomingMessage) => string | undefined
  /** Failed-authentication budget per client address (`server.failedAuthPerAddress`); undefined: off. */
  readonly failedAuthBudget?: FailedAuthBudget | undefined
  /** Holds the 429 of an address over its failed-authentication budget (`server.failedAuthPerAddress.tarpitSeconds`). */
  readonly tarpit?: Tarpit | undefined
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
 * Refusals by authentication and the steps after it (401, 403, 429, 503 from the verifier), as opposed
 * to malformed requests (400) and upstream failures: these feed `onAuthFailure` (metrics by reason).
 */
function isAuthOutcome (err: KubegateError): boolean {
  const s = err.statusCode
  return s === 401 || s === 403 || s === 429 || s === 503
}

/** The failure of a request refused by the failed-authentication budget: its answer goes through the tarpit. */
const OVER_BUDGET = 'auth_failures_limited'

/** Admission contexts are constant: one object per kind, not one per request. */
const PLAIN: AdmissionContext = { longRunning: false, upgrade: false }
const STREAM: AdmissionContext = { longRunning: true, upgrade: false }
const UPGRADE: AdmissionContext = { longRunning: true, upgrade: true }

/** Only what kubectl uses; h2c and anything else would need a protocol-aware proxy (invariant 5). */
function isSupportedUpgrade (lower: string): boolean {
  return lower === 'websocket' || lower === 'spdy/3.1'
}

function destroySelf (this: Socket): void {
  this.destroy()
}

/** An upgrade past its request-line and header checks, waiting on authentication and the steps after it. */
interface UpgradeAttempt {
  readonly req: IncomingMessage
  readonly socket: Socket
  readonly head: Buffer
  readonly scan: ClientHeaders
  readonly id: string
  readonly start: number
  /** The Upgrade header as sent (`websocket`, `SPDY/3.1`). */
  readonly upgrade: string
  /** Sec-WebSocket-Protocol values to send upstream (the bearer protocol removed); undefined on SPDY. */
  readonly protocols: readonly string[] | undefined
}

/**
 * The client address, resolved once per request and remembered: it is read again for the access record when
 * the exchange ends, and by then a request whose body the forwarder consumed has no socket any more
 * (`req.socket` is null), which made every forwarded request with a body lose its access record.
 */
function oncePerRequest (resolve: (req: IncomingMessage) => string | undefined): (req: IncomingMessage) => string | undefined {
  const seen = new WeakMap<IncomingMessage, string | undefined>()
  return (req) => {
    if (seen.has(req)) return seen.get(req)
    const address = (req.socket as IncomingMessage['socket'] | null) === null ? undefined : resolve(req)
    seen.set(req, address)
    return address
  }
}

/**
 * The request path: the same authentication, admissions and client-identity step for plain requests and
 * upgrades (Node delivers upgrades to a different event; a check that runs only on 'request' is the classic
 * bypass). Each step is a method; on the cached-token path every step returns synchronously, and no step
 * allocates a closure (the only one per request is the upstream completion callback).
 *
 *   request target -> local route? -> header scan -> credential -> authenticate (sync on cache hit) ->
 *   admissions -> client identity (sync, or a Promise) -> upstream headers -> forward | tunnel -> access record
 */
class RequestPipeline {
  readonly #deps: HandlerDeps
  readonly #logger: Logger
  readonly #sessions: SessionRegistry
  readonly #admissions: readonly Admission[]
  readonly #clientIdentity: ClientIdentityStep
  readonly #local: LocalRoutes
  readonly #clientAddress: (req: IncomingMessage) => string | undefined
  readonly #access: AccessRecorder

  constructor (deps: HandlerDeps) {
    this.#deps = deps
    this.#logger = deps.logger
    this.#sessions = deps.sessions
    this.#admissions = deps.admissions ?? []
    this.#clientIdentity = deps.clientIdentity ?? refuseClientIdentityHeaders
    this.#local = new LocalRoutes(deps.localRoutes ?? new Map(), deps.localPrefixes ?? [])
    this.#clientAddress = oncePerRequest(deps.clientAddress ?? peerAddress)
    this.#access = new AccessRecorder(deps.logger, this.#clientAddress, deps.onAccess)
  }

  // ---- steps shared by both paths ----

  /**
   * The client's credential: the Authorization header, or on a WebSocket upgrade the bearer subprotocol.
   * Throws KubegateError.
   */
  #credential (scan: ClientHeaders, subprotocolToken: string | undefined): string {
    const deps = this.#deps
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
    return token
  }

  /**
   * Credential and authentication: synchronous on a cache hit, a Promise otherwise; a token the cache does not
   * hold goes through the client address's failed-authentication budget first. Throws KubegateError.
   */
  #authenticate (req: IncomingMessage, scan: ClientHeaders, subprotocolToken: string | undefined): Authenticated | Promise<Authenticated> {
    const deps = this.#deps
    if (deps.bareIdentity !== undefined) return deps.bareIdentity
    const token = this.#credential(scan, subprotocolToken)
    const authenticator = deps.authentication.current.authenticator
    if (deps.failedAuthBudget === undefined) return authenticator.authenticate(token)
    return authenticateWithinBudget(authenticator, token, deps.failedAuthBudget, this.#clientAddress, req)
  }

  /** The admissions, on the verified identity, in order; the first refusal wins. */
  #admit (verified: Authenticated, ctx: AdmissionContext): KubegateError | undefined {
    const admissions = this.#admissions
    for (let i = 0; i < admissions.length; i++) {
      const e = (admissions[i] as Admission)(verified, ctx)
      if (e !== undefined) return e
    }
    return undefined
  }

  #upstreamHeaders (req: IncomingMessage, scan: ClientHeaders, forwardAs: Authenticated, id: string): string[] {
    return buildUpstreamHeaders(scan, forwardAs, this.#deps.token.current, this.#clientAddress(req), id)
  }

  #logRefusal (id: string, err: KubegateError, what: 'request' | 'upgrade'): void {
    if (isAuthOutcome(err)) this.#deps.onAuthFailure?.(err.failure ?? err.code)
    if (err.statusCode >= 500) this.#logger.warn({ requestId: id, code: err.code, detail: err.detail }, `${what} failed`)
    else if (err.detail !== undefined) this.#logger.debug({ requestId: id, code: err.code, detail: err.detail }, `${what} refused`)
  }

  // ---- plain requests ----

  handle (req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const start = performance.now()
    const id = nextRequestId()
    const url = req.url ?? ''
    const bad = checkHttpVersion(req, false) ?? checkOriginForm(url)
    if (bad !== undefined) return this.#refuse(req, res, id, start, bad, true)
    const q = url.indexOf('?')
    const local = this.#local.find(url, q)
    if (local !== undefined) return this.#serveLocal(req, res, id, start, local)
    const queryBad = checkQueryCredentials(url, q)
    if (queryBad !== undefined) return this.#refuse(req, res, id, start, queryBad, true)
    const scan = scanClientHeaders(req.rawHeaders)
    let result: Authenticated | Promise<Authenticated>
    try {
      result = this.#authenticate(req, scan, undefined)
    } catch (err) {
      return this.#refuse(req, res, id, start, toKubegateError(err), false, !scan.hasBody)
    }
    if (result instanceof Promise) {
      result.then(
        (verified) => this.#identify(req, res, scan, verified, id, start, expectContinue),
        (err: unknown) => this.#refuse(req, res, id, start, toKubegateError(err), false, !scan.hasBody),
      )
    } else {
      this.#identify(req, res, scan, result, id, start, expectContinue)
    }
  }

  #serveLocal (req: IncomingMessage, res: ServerResponse, id: string, start: number, local: LocalHandler): void {
    // Logged without the query: /callback carries an OAuth authorization code and state there.
    res.once('finish', () => this.#access.record(req, id, start, res.statusCode, 0, undefined, undefined, undefined, undefined, true))
    local(req, res)
  }

  /**
   * Admissions on the verified identity, then the client-identity step (admissions first: a revoked or
   * rate-limited user costs no SubjectAccessReview); the response may have closed while either waited.
   */
  #identify (req: IncomingMessage, res: ServerResponse, scan: ClientHeaders, verified: Authenticated, id: string,
    start: number, expectContinue: boolean): void {
    if (res.destroyed) return
    const longRunning = isLongRunning(req.url as string)
    const denied = this.#admit(verified, longRunning ? STREAM : PLAIN)
    if (denied !== undefined) return this.#refuse(req, res, id, start, denied, false, !scan.hasBody)
    const decision = this.#clientIdentity(verified, scan)
    if (decision instanceof Promise) {
      decision.then(
        (d) => this.#decided(req, res, scan, verified, d, id, start, expectContinue, longRunning),
        (err: unknown) => this.#refuse(req, res, id, start, toKubegateError(err), false, !scan.hasBody, verified),
      )
    } else {
      this.#decided(req, res, scan, verified, decision, id, start, expectContinue, longRunning)
    }
  }

  #decided (req: IncomingMessage, res: ServerResponse, scan: ClientHeaders, verified: Authenticated,
    decision: ClientIdentityDecision, id: string, start: number, expectContinue: boolean, longRunning: boolean): void {
    if (res.destroyed) return
    if (decision instanceof KubegateError) return this.#refuse(req, res, id, start, decision, false, !scan.hasBody, verified)
    if (expectContinue) res.writeContinue()
    this.#forward(req, res, scan, verified, decision, id, start, longRunning)
  }

  #forward (req: IncomingMessage, res: ServerResponse, scan: ClientHeaders, verified: Authenticated, forwardAs: Authenticated,
    id: string, start: number, longRunning: boolean): void {
    let unregister: (() => void) | undefined
    let stop: (() => void) | undefined
    // Ending a session ends the stream cleanly (terminating chunk), so a watching client re-lists.
    if (longRunning) unregister = this.#sessions.add('stream', verified.identity, verified.tokenHash, () => { if (stop !== undefined) stop(); else res.destroy() })
    stop = this.#deps.upstream.current.forwarder.forward(req, res, this.#upstreamHeaders(req, scan, forwardAs, id), scan.hasBody, longRunning, (r: ForwardResult) => {
      unregister?.()
      const failure = r.error?.failure ?? (r.aborted ? 'client_closed' : undefined)
      if (r.error !== undefined) this.#logger.warn({ requestId: id, code: r.error.code, detail: r.error.detail }, 'upstream failed')
      this.#access.record(req, id, start, r.status, r.bytes, r.upstreamMs, verified, failure, undefined, false, forwardAs)
    })
  }

  #refuse (req: IncomingMessage, res: ServerResponse, id: string, start: number, err: KubegateError, queryRefused = false,
    bodyless = false, verified?: Authenticated): void {
    this.#logRefusal(id, err, 'request')
    // The body was not read: close the connection rather than let Node drain an arbitrary upload. A request
    // known to carry no body (no Content-Length > 0, no Transfer-Encoding, from the same raw header scan the
    // parser framed it with) leaves nothing to drain, so its connection is kept: closing it turned every
    // refused request into a TLS handshake, and a flood of forged tokens into a handshake flood (bench
    // scenario 4, quick runs: 89 forged requests/s refused before, about 800/s after).
    const tarpit = this.#deps.tarpit
    if (tarpit !== undefined && err.failure === OVER_BUDGET) {
      tarpit.hold(res, () => { this.#answerRefusal(req, res, id, start, err, queryRefused, bodyless, verified) })
    } else {
      this.#answerRefusal(req, res, id, start, err, queryRefused, bodyless, verified)
    }
  }

  #answerRefusal (req: IncomingMessage, res: ServerResponse, id: string, start: number, err: KubegateError, queryRefused: boolean,
    bodyless: boolean, verified: Authenticated | undefined): void {
    sendStatus(res, err, !bodyless)
    this.#access.record(req, id, start, err.statusCode, 0, undefined, verified, err.failure ?? err.code, undefined, queryRefused)
  }

  // ---- upgrades ----

  upgrade (req: IncomingMessage, socket: Socket, head: Buffer): void {
    const start = performance.now()
    const id = nextRequestId()
    const url = req.url ?? ''
    socket.on('error', destroySelf)
    const q = url.indexOf('?')
    const bad = checkHttpVersion(req, true) ?? checkOriginForm(url) ??
      (this.#local.find(url, q) !== undefined ? new KubegateError('KG_ERR_NOT_FOUND', undefined, { failure: 'local_upgrade' }) : undefined) ??
      checkQueryCredentials(url, q)
    if (bad !== undefined) return this.#failUpgrade(req, socket, id, start, bad)
    const scan = scanClientHeaders(req.rawHeaders)
    const upgrade = scan.upgrade ?? ''
    const lower = upgrade.toLowerCase()
    if (!isSupportedUpgrade(lower)) return this.#failUpgrade(req, socket, id, start, new KubegateError('KG_ERR_UPGRADE_UNSUPPORTED', upgrade, { failure: 'upgrade_unsupported' }))
    if (scan.hasBody) return this.#failUpgrade(req, socket, id, start, new KubegateError('KG_ERR_BAD_REQUEST', 'upgrade request with a body', { failure: 'bad_request' }))
    const sub = lower === 'websocket' ? takeSubprotocolToken(scan.wsProtocols) : { kind: 'none' as const }
    if (sub.kind === 'invalid') return this.#failUpgrade(req, socket, id, start, new KubegateError('KG_ERR_BAD_SUBPROTOCOL', sub.detail, { failure: 'bad_subprotocol' }))
    let result: Authenticated | Promise<Authenticated>
    try {
      result = this.#authenticate(req, scan, sub.kind === 'token' ? sub.token : undefined)
    } catch (err) {
      return this.#failUpgrade(req, socket, id, start, toKubegateError(err))
    }
    // Sec-WebSocket-Protocol means something only on a WebSocket upgrade; on SPDY it is dropped, so a bearer
    // protocol there can never travel upstream (invariant 7).
    const protocols = lower !== 'websocket' ? undefined : sub.kind === 'token' ? sub.rest : scan.wsProtocols
    const attempt: UpgradeAttempt = { req, socket, head, scan, id, start, upgrade, protocols }
    if (result instanceof Promise) result.then((verified) => this.#identifyUpgrade(attempt, verified), (err: unknown) => this.#failAttempt(attempt, toKubegateError(err)))
    else this.#identifyUpgrade(attempt, result)
  }

  /** Admissions, then the client-identity step of an upgrade, as on plain requests; the socket may close meanwhile. */
  #identifyUpgrade (a: UpgradeAttempt, verified: Authenticated): void {
    if (a.socket.destroyed) return
    const denied = this.#admit(verified, UPGRADE)
    if (denied !== undefined) return this.#failAttempt(a, denied, verified)
    const decision = this.#clientIdentity(verified, a.scan)
    if (decision instanceof Promise) decision.then((d) => this.#admitAndTunnel(a, verified, d), (err: unknown) => this.#failAttempt(a, toKubegateError(err), verified))
    else this.#admitAndTunnel(a, verified, decision)
  }

  #admitAndTunnel (a: UpgradeAttempt, verified: Authenticated, decision: ClientIdentityDecision): void {
    if (a.socket.destroyed) return
    if (decision instanceof KubegateError) return this.#failAttempt(a, decision, verified)
    // Counted from the moment the attempt starts (not only once spliced), so a burst of parallel
    // upgrades cannot pass the check together before any of them is registered.
    if (this.#sessions.count('upgrade', verified.identity.user) >= this.#deps.maxUpgradesPerUser) {
      return this.#failAttempt(a, new KubegateError('KG_ERR_TOO_MANY_STREAMS', undefined, { failure: 'too_many_streams', retryAfter: 5 }), verified)
    }
    this.#tunnel(a, verified, decision)
  }

  #tunnel (a: UpgradeAttempt, verified: Authenticated, forwardAs: Authenticated): void {
    const { req, id, start, upgrade } = a
    let closeTunnel: (() => void) | undefined
    const unregister = this.#sessions.add('upgrade', verified.identity, verified.tokenHash, () => closeTunnel?.())
    closeTunnel = this.#deps.upstream.current.tunneler.tunnel(
      { req, client: a.socket, head: a.head, headers: this.#upstreamHeaders(req, a.scan, forwardAs, id), upgrade, wsProtocols: a.protocols },
      (r: TunnelResult) => {
        unregister()
        if (r.error !== undefined) this.#logger.warn({ requestId: id, code: r.error.code, detail: r.error.detail }, 'upgrade failed')
        this.#access.record(req, id, start, r.status, r.bytesOut, r.upstreamMs, verified, r.error?.failure, upgrade, false, forwardAs)
      },
    )
  }

  #failAttempt (a: UpgradeAttempt, err: KubegateError, verified?: Authenticated): void {
    this.#failUpgrade(a.req, a.socket, a.id, a.start, err, verified)
  }

  /** Refuses an upgrade on the raw socket (a Status response, then close). */
  #failUpgrade (req: IncomingMessage, socket: Socket, id: string, start: number, err: KubegateError, verified?: Authenticated): void {
    this.#logRefusal(id, err, 'upgrade')
    const tarpit = this.#deps.tarpit
    if (tarpit === undefined || err.failure !== OVER_BUDGET) return this.#answerUpgradeRefusal(req, socket, id, start, err, verified)
    // Nobody reads an upgrade's socket: drop what arrives, so a client that leaves while held is seen (its FIN).
    socket.on('end', destroySelf)
    socket.resume()
    tarpit.hold(socket, () => { this.#answerUpgradeRefusal(req, socket, id, start, err, verified) })
  }

  #answerUpgradeRefusal (req: IncomingMessage, socket: Socket, id: string, start: number, err: KubegateError, verified: Authenticated | undefined): void {
    sendStatusToSocket(socket, err)
    this.#access.record(req, id, start, err.statusCode, 0, undefined, verified, err.failure ?? err.code, req.headers.upgrade, true)
  }

  /** CONNECT would turn kubegate into a generic tunnel; refuse it on the raw socket. */
  connect (req: IncomingMessage, socket: Socket): void {
    sendStatusToSocket(socket, new KubegateError('KG_ERR_METHOD_NOT_ALLOWED'))
    this.#access.record(req, nextRequestId(), performance.now(), 405, 0, undefined, undefined, 'connect', undefined, true)
  }
}

/** The server's event handlers over one request pipeline built from `deps`. */
export function createRequestHandlers (deps: HandlerDeps): RequestHandlers {
  const p = new RequestPipeline(deps)
  return {
    onRequest: (req, res) => { p.handle(req, res, false) },
    onCheckContinue: (req, res) => { p.handle(req, res, true) },
    onUpgrade: (req, socket, head) => { p.upgrade(req, socket, head) },
    onConnect: (req, socket) => { p.connect(req, socket) },
  }
}

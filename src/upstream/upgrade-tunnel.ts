// One upgrade attempt as a state machine: connect upstream, send the request, await and check the 101, splice or relay the refusal, tear down.
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { KubegateError } from '../errors.js'
import { sendStatusToSocket } from '../k8s/status.js'
import { linger } from './linger.js'
import { SplicedSession } from './spliced-session.js'
import type { TunnelRequest, TunnelResult, TunnelSettings } from './tunnel-types.js'
import { refusalHead, switchingProtocolsHead, upgradeMismatch } from './upgrade-answer.js'
import { openUpstreamRequest, upstreamHeaders } from './upstream-request.js'

/**
 * `pending`: the request is out (or going out), no answer yet. `relaying`: a refusal's body is being read.
 * `spliced`: a matching 101 joined the sockets. `done`: `done(result)` has been called.
 */
export type TunnelState = 'pending' | 'relaying' | 'spliced' | 'done'

/**
 * Until spliced the client socket is not read (Node leaves it paused after 'upgrade'): whatever it sends
 * stays in its buffers and is never forwarded. It can only go away, which ends the attempt. Nothing is
 * written to the client before the splice except a whole answer (kubegate's Status or the relayed refusal).
 */
export class UpgradeTunnel {
  readonly #tr: TunnelRequest
  readonly #settings: TunnelSettings
  readonly #done: (r: TunnelResult) => void
  readonly #start = performance.now()
  readonly #result: TunnelResult = { status: 0, spliced: false, upstreamMs: undefined, bytesIn: 0, bytesOut: 0, error: undefined }
  #state: TunnelState = 'pending'
  #upReq: ClientRequest | undefined
  #upSocket: Socket | undefined
  #session: SplicedSession | undefined
  #responseTimer: NodeJS.Timeout | undefined
  readonly #onClientGone = (): void => {
    if (this.#state !== 'pending' && this.#state !== 'relaying') return
    if (this.#result.status === 0) this.#result.status = 499
    this.#destroyBoth()
  }

  constructor (tr: TunnelRequest, settings: TunnelSettings, done: (r: TunnelResult) => void) {
    this.#tr = tr
    this.#settings = settings
    this.#done = done
  }

  get state (): TunnelState { return this.#state }

  /** Starts the attempt; `done` may be called before this returns (a request Node refuses to write). */
  start (): void {
    // Bounds everything before the splice: connect, TLS, the answer's head and a refusal's body.
    this.#responseTimer = setTimeout(() => this.#onResponseTimeout(), this.#settings.responseTimeoutMs)
    this.#tr.client.once('close', this.#onClientGone)
    this.#tr.client.on('error', this.#onClientGone)
    const upReq = this.#connectUpstream()
    if (upReq !== undefined) this.#sendRequest(upReq)
  }

  /** Ends the tunnel at any stage: a spliced session is closed (with close frames when it can), an attempt is cut (499). */
  abort (): void {
    if (this.#state === 'spliced') this.#session?.close()
    else if (this.#state !== 'done') {
      if (this.#result.status === 0) this.#result.status = 499
      this.#destroyBoth()
    }
  }

  /** Phase 1, connect upstream: a dedicated TLS socket under a node:http request (never pooled, never reused). */
  #connectUpstream (): ClientRequest | undefined {
    const { req } = this.#tr
    const method = req.method as string
    try {
      this.#upReq = openUpstreamRequest(this.#settings.target, method, req.url as string,
        upstreamHeaders(this.#tr, method, this.#settings.hostHeader), (s) => { this.#upSocket = s })
      return this.#upReq
    } catch (err) {
      // Node refuses header values it could not write safely; the client's came through Node's own parser,
      // so this is kubegate's bug or a hostile edge case: answer, never send half a request.
      this.#fail(new KubegateError('KG_ERR_BAD_REQUEST', `upgrade: ${(err as Error).message}`, { cause: err, failure: 'bad_request' }))
      return undefined
    }
  }

  /** Phase 2, send the request: the head only (no body), then wait for one of the answers below. */
  #sendRequest (upReq: ClientRequest): void {
    upReq.on('error', (err: NodeJS.ErrnoException) => this.#onUpstreamError(err))
    upReq.on('upgrade', (res: IncomingMessage, up: Socket, upHead: Buffer) => this.#onUpgrade(res, up, upHead))
    upReq.on('response', (res: IncomingMessage) => this.#onRefusal(res))
    upReq.end()
  }

  /** Connect, TLS or parse errors (an oversized or malformed answer head included) before the answer: 502. */
  #onUpstreamError (err: NodeJS.ErrnoException): void {
    if (this.#state === 'pending') {
      this.#fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `upgrade: ${err.code ?? ''} ${err.message}`, { cause: err, failure: 'upstream_error' }))
    } else if (this.#state === 'relaying') {
      this.#destroyBoth()
    }
  }

  /** Nothing has been written to the client before the splice (a refusal is relayed whole), so it gets a 504. */
  #onResponseTimeout (): void {
    this.#fail(new KubegateError('KG_ERR_UPSTREAM_TIMEOUT', 'upgrade: no complete answer from the apiserver in time', { failure: 'upstream_timeout' }))
  }

  /** Phase 3, await and check the 101: Node saw a 101 with `Connection: upgrade`; it must also be the switch that was asked for. */
  #onUpgrade (res: IncomingMessage, up: Socket, upHead: Buffer): void {
    if (this.#state !== 'pending') {
      up.destroy()
      return
    }
    this.#result.upstreamMs = performance.now() - this.#start
    this.#result.status = 101
    const mismatch = upgradeMismatch(res.rawHeaders, this.#tr.upgrade, this.#tr.wsProtocols)
    if (mismatch !== undefined) {
      up.destroy()
      this.#fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `upgrade: 101 ${mismatch}`, { failure: 'upgrade_mismatch' }))
      return
    }
    if (this.#tr.client.destroyed) {
      up.destroy()
      this.#result.status = 499
      this.#finish()
      return
    }
    this.#splice(res, up, upHead)
  }

  /** Phase 4, splice: from here the session owns both sockets and ends the tunnel when it ends. */
  #splice (res: IncomingMessage, up: Socket, upHead: Buffer): void {
    this.#state = 'spliced'
    this.#result.spliced = true
    this.#stopWatchingClient()
    this.#upSocket = up
    this.#session = new SplicedSession(this.#tr.client, up, {
      idleTimeoutMs: this.#settings.idleTimeoutMs,
      keepAliveMs: this.#settings.keepAliveMs,
      websocket: this.#tr.upgrade.toLowerCase() === 'websocket',
    }, () => this.#finish())
    this.#session.start(switchingProtocolsHead(res.rawHeaders), upHead, this.#tr.head)
  }

  /** Any answer that is not an upgrade: a 101 Node did not take as one fails; anything else is a refusal, read whole (bounded). */
  #onRefusal (res: IncomingMessage): void {
    if (this.#state !== 'pending') {
      res.destroy()
      return
    }
    this.#result.upstreamMs = performance.now() - this.#start
    if (res.statusCode === 101) {
      // A 101 without `Connection: upgrade`: not a switch kubegate can splice.
      res.destroy()
      this.#fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: 101 without Connection: upgrade', { failure: 'upgrade_mismatch' }))
      return
    }
    this.#state = 'relaying'
    this.#result.status = res.statusCode ?? 502
    this.#readRefusalBody(res)
  }

  #readRefusalBody (res: IncomingMessage): void {
    const chunks: Buffer[] = []
    let size = 0
    res.on('data', (c: Buffer) => {
      size += c.length
      if (size > this.#settings.maxRelayedBodyBytes) {
        res.destroy()
        this.#fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: refusal body too large', { failure: 'upstream_error' }))
        return
      }
      chunks.push(c)
    })
    res.on('error', () => { if (this.#state === 'relaying') this.#destroyBoth() })
    res.on('end', () => {
      if (this.#state !== 'relaying') return
      // The apiserver's connection is finished: authenticated as kubegate, it must not carry anything else.
      this.#destroyUpstream()
      this.#relayRefusal(res, Buffer.concat(chunks, size))
    })
  }

  /** The refusal as a complete, self-framed response; then the client connection closes (it may hold a smuggled request). */
  #relayRefusal (res: IncomingMessage, body: Buffer): void {
    this.#result.bytesOut = body.length
    const client = this.#tr.client
    if (!client.destroyed) {
      client.write(refusalHead(res.statusCode ?? 502, res.rawHeaders, body.length))
      client.write(body)
      linger(client)
    }
    this.#finish()
  }

  /** kubegate's own answer to the client (nothing from upstream has been written to it yet). */
  #fail (err: KubegateError): void {
    if (this.#state === 'done' || this.#state === 'spliced') return
    this.#result.error = err
    this.#result.status = err.statusCode
    this.#destroyUpstream()
    sendStatusToSocket(this.#tr.client, err)
    this.#finish()
  }

  /** Phase 5, tear down (before a splice): both sockets destroyed at once. */
  #destroyBoth (): void {
    this.#destroyUpstream()
    this.#tr.client.destroy()
    this.#finish()
  }

  #destroyUpstream (): void {
    this.#upReq?.destroy()
    this.#upSocket?.destroy()
  }

  #stopWatchingClient (): void {
    clearTimeout(this.#responseTimer)
    this.#tr.client.off('close', this.#onClientGone)
    this.#tr.client.off('error', this.#onClientGone)
  }

  /** Calls `done` exactly once, with the session's byte counts when spliced. */
  #finish (): void {
    if (this.#state === 'done') return
    this.#state = 'done'
    this.#stopWatchingClient()
    if (this.#session !== undefined) {
      this.#result.bytesIn = this.#session.bytesIn
      this.#result.bytesOut = this.#session.bytesOut
    }
    this.#done(this.#result)
  }
}

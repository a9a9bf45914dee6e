import { randomBytes } from 'node:crypto'
import { request as httpRequest, STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import { KubegateError } from '../errors.js'
import { sendStatusToSocket } from '../k8s/status.js'
import { BEARER_PROTOCOL_PREFIX } from '../auth/bearer.js'
import type { UpstreamTarget } from './target.js'

export interface TunnelOptions {
  readonly target: UpstreamTarget
  /** Connect + TLS + the apiserver's whole answer to the upgrade request (101 head, or a refusal and its body). */
  readonly responseTimeoutMs: number
  /** Both directions idle this long: the session is closed (0: never). */
  readonly idleTimeoutMs: number
  /** TCP keep-alive probes on both sockets of a spliced session, so a vanished peer frees its slot (0: off). */
  readonly keepAliveMs?: number
  /** Largest refusal body relayed to the client (a Status is a few hundred bytes). */
  readonly maxRelayedBodyBytes?: number
}

export interface TunnelRequest {
  readonly req: IncomingMessage
  readonly client: Socket
  /** Bytes the client sent after its request head: written upstream only after a matching 101. */
  readonly head: Buffer
  /** Client headers to forward plus kubegate's Authorization and Impersonate-* lines, flat. */
  readonly headers: readonly string[]
  /** The client's Upgrade value (`websocket` or `SPDY/3.1`), checked by the caller. */
  readonly upgrade: string
  /** Subprotocols to offer upstream (the bearer-token protocol already removed); WebSocket only. */
  readonly wsProtocols: readonly string[] | undefined
}

export interface TunnelResult {
  /** The apiserver's status (101 when spliced), kubegate's own error status, or 499 (client went away first). */
  status: number
  spliced: boolean
  upstreamMs: number | undefined
  /** Bytes from the client to the apiserver after the 101 (including `head`). */
  bytesIn: number
  /** Bytes from the apiserver to the client after the 101 head, or the relayed refusal body. */
  bytesOut: number
  error: KubegateError | undefined
}

export interface Tunneler {
  /**
   * Opens a fresh TLS connection (never pooled, never reused), sends the upgrade request, and splices the
   * two sockets only if the apiserver answers 101 with the requested protocol. Any other answer is relayed
   * with `Connection: close` and both sockets end (CVE-2018-1002105: nothing the client sends afterwards
   * may reach the apiserver on a connection authenticated as kubegate). Returns a function that ends the
   * tunnel at any stage (revocation, shutdown, a per-user session registry); `done` is called exactly once,
   * when both sockets are closed or being closed.
   */
  tunnel: (t: TunnelRequest, done: (r: TunnelResult) => void) => () => void
}

/** Hop-by-hop response headers: kubegate frames the relayed refusal itself. */
const RELAY_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length'])
/** After kubegate has ended a socket, how long the peer gets to read what was written before it is destroyed. */
const LINGER_MS = 2000

function lineValues (raw: readonly string[], lower: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) out.push(raw[i + 1] as string)
  return out
}

/**
 * Ends a socket gracefully (FIN after what is buffered), discards whatever the peer still sends, and
 * destroys it after a short linger. Destroying at once could turn the close into an RST that makes the
 * peer drop the response it has not read yet; never destroying would let a silent peer pin the socket.
 */
function linger (s: Duplex): void {
  if (s.destroyed) return
  s.end()
  s.resume()
  const t = setTimeout(() => s.destroy(), LINGER_MS)
  t.unref()
  s.once('close', () => clearTimeout(t))
}

/**
 * The upgrade path's upstream side. Built on node:http's client for one reason: the apiserver's answer is
 * parsed by Node's strict HTTP parser (llhttp), which tells a real upgrade (101 + `Connection: upgrade`)
 * from everything else and frames refusal bodies (Content-Length, chunked, until-close) correctly. The
 * connection is a dedicated `tls.connect` socket handed over through `createConnection` — no Agent, so it is
 * never pooled and never reused. See docs/design.md, "Upgrades", for why not http-proxy.
 */
export function createTunneler (options: TunnelOptions): Tunneler {
  const t = options.target
  const hostHeader = t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`
  const maxBody = options.maxRelayedBodyBytes ?? 1024 * 1024
  const keepAliveMs = options.keepAliveMs ?? 30_000

  function tunnel (tr: TunnelRequest, done: (r: TunnelResult) => void): () => void {
    const { req, client, head } = tr
    const start = performance.now()
    const result: TunnelResult = { status: 0, spliced: false, upstreamMs: undefined, bytesIn: 0, bytesOut: 0, error: undefined }
    let state: 'pending' | 'relaying' | 'spliced' | 'done' = 'pending'
    let upSocket: Duplex | undefined
    let upReq: ClientRequest | undefined
    /** Set once spliced: ends the session (both sockets). */
    let closeSpliced: (() => void) | undefined

    const finish = (): void => {
      if (state === 'done') return
      state = 'done'
      clearTimeout(timer)
      client.off('close', onClientGone)
      client.off('error', onClientGone)
      done(result)
    }
    /** kubegate's own answer to the client (nothing from upstream has been written to it yet). */
    const fail = (err: KubegateError): void => {
      if (state === 'done' || state === 'spliced') return
      result.error = err
      result.status = err.statusCode
      upReq?.destroy()
      upSocket?.destroy()
      sendStatusToSocket(client, err)
      finish()
    }
    const destroyBoth = (): void => {
      upReq?.destroy()
      upSocket?.destroy()
      client.destroy()
      finish()
    }

    // Bounds everything before the splice: connect, TLS, the answer's head and a refusal's body.
    const timer = setTimeout(() => {
      // Nothing has been written to the client before the splice (a refusal is relayed whole), so it gets a 504.
      fail(new KubegateError('KG_ERR_UPSTREAM_TIMEOUT', 'upgrade: no complete answer from the apiserver in time', { failure: 'upstream_timeout' }))
    }, options.responseTimeoutMs)

    // Until spliced the client socket is not read (Node leaves it paused after 'upgrade'): whatever it sends
    // stays in its buffers and is never forwarded. It can only go away, which ends the attempt.
    const onClientGone = (): void => {
      if (state === 'pending' || state === 'relaying') {
        if (result.status === 0) result.status = 499
        destroyBoth()
      }
    }
    client.once('close', onClientGone)
    client.on('error', onClientGone)

    const headers: string[] = ['Host', hostHeader]
    let hasLength = false
    for (let i = 0; i < tr.headers.length; i += 2) {
      const name = tr.headers[i] as string
      if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true
      headers.push(name, tr.headers[i + 1] as string)
    }
    headers.push('Connection', 'Upgrade', 'Upgrade', tr.upgrade)
    if (tr.wsProtocols !== undefined && tr.wsProtocols.length > 0) headers.push('Sec-WebSocket-Protocol', tr.wsProtocols.join(', '))
    // An upgrade request carries no body (the caller refused one). Without a length Node would frame a
    // POST (SPDY) as chunked and write a `0\r\n\r\n` terminator after the head; Go's client sends
    // `Content-Length: 0` for a bodiless POST, and so does kubegate.
    const method = req.method as string
    if (!hasLength && method !== 'GET' && method !== 'HEAD') headers.push('Content-Length', '0')

    try {
      upReq = httpRequest({
        method,
        path: req.url as string,
        headers,
        setHost: false,
        insecureHTTPParser: false,
        maxHeaderSize: 16 * 1024,
        joinDuplicateHeaders: false,
        createConnection: () => {
          const tlsOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
            host: t.host,
            port: t.port,
            ca: t.ca,
            servername: t.servername,
            rejectUnauthorized: true,
            ALPNProtocols: ['http/1.1'],
            // Half-close travels end to end once spliced; kubegate decides when each side is finished.
            // (tls.connect passes it to the TLSSocket; @types/node omits it from ConnectionOptions.)
            allowHalfOpen: true,
          }
          const s = tlsConnect(tlsOptions)
          s.setNoDelay(true)
          upSocket = s
          return s
        },
      })
    } catch (err) {
      // Node refuses header values it could not write safely; the client's came through Node's own parser,
      // so this is kubegate's bug or a hostile edge case: answer, never send half a request.
      fail(new KubegateError('KG_ERR_BAD_REQUEST', `upgrade: ${(err as Error).message}`, { cause: err, failure: 'bad_request' }))
      return destroyBoth
    }
    upReq.on('error', (err: NodeJS.ErrnoException) => {
      if (state === 'pending') {
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `upgrade: ${err.code ?? ''} ${err.message}`, { cause: err, failure: 'upstream_error' }))
      } else if (state === 'relaying') {
        destroyBoth()
      }
    })
    upReq.on('upgrade', onUpgrade)
    upReq.on('response', onResponse)
    upReq.end()

    function onUpgrade (res: IncomingMessage, up: Socket, upHead: Buffer): void {
      if (state !== 'pending') {
        up.destroy()
        return
      }
      result.upstreamMs = performance.now() - start
      result.status = 101
      const mismatch = upgradeMismatch(res)
      if (mismatch !== undefined) {
        up.destroy()
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `upgrade: 101 ${mismatch}`, { failure: 'upgrade_mismatch' }))
        return
      }
      if (client.destroyed) {
        up.destroy()
        result.status = 499
        finish()
        return
      }
      splice(res, up, upHead)
    }

    /** Why a 101 does not match what was asked for (undefined: it matches). */
    function upgradeMismatch (res: IncomingMessage): string | undefined {
      const upgrades = lineValues(res.rawHeaders, 'upgrade')
      if (upgrades.length !== 1 || (upgrades[0] as string).trim().toLowerCase() !== tr.upgrade.toLowerCase()) return 'with a different Upgrade'
      const protos = lineValues(res.rawHeaders, 'sec-websocket-protocol')
      if (protos.length > 1) return 'with more than one Sec-WebSocket-Protocol'
      if (protos.length === 1) {
        const p = (protos[0] as string).trim()
        // Never echo the bearer-token protocol; accept only a protocol that was offered (RFC 6455 §4.1).
        if (p.startsWith(BEARER_PROTOCOL_PREFIX)) return 'selecting the bearer-token protocol'
        if (tr.wsProtocols === undefined || !tr.wsProtocols.includes(p)) return 'with a protocol that was not offered'
      }
      return undefined
    }

    function splice (res: IncomingMessage, up: Socket, upHead: Buffer): void {
      state = 'spliced'
      result.spliced = true
      clearTimeout(timer)
      client.off('close', onClientGone)
      client.off('error', onClientGone)
      upSocket = up

      // The apiserver's 101 head, rebuilt from its header lines (values are Latin-1 views of the bytes).
      let text = 'HTTP/1.1 101 Switching Protocols\r\n'
      const raw = res.rawHeaders
      for (let i = 0; i < raw.length; i += 2) text += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`
      client.setNoDelay(true)
      client.write(Buffer.from(text + '\r\n', 'latin1'))
      if (upHead.length > 0) {
        result.bytesOut += upHead.length
        client.write(upHead)
      }
      // Only now, after a matching 101, may the client's early bytes go upstream (invariant 5).
      if (head.length > 0) {
        result.bytesIn += head.length
        up.write(head)
      }

      let clientClosed = false
      let upClosed = false
      const teardown = (): void => {
        client.destroy()
        up.destroy()
        finish()
      }
      const closed = (): void => {
        if (clientClosed && upClosed) finish()
      }
      client.on('error', teardown)
      up.on('error', teardown)
      // A side that is gone entirely (both directions) cannot receive anything more: the other side gets
      // its pending bytes flushed, a FIN, and a short linger. Half-closes (one direction's FIN) are carried
      // across by pipe() below, and the session stays up until both directions have ended.
      client.once('close', () => {
        clientClosed = true
        if (!upClosed) linger(up)
        closed()
      })
      up.once('close', () => {
        upClosed = true
        if (!clientClosed) linger(client)
        closed()
      })
      // Frame boundaries in both directions, so a shutdown or revocation can insert close frames without
      // cutting a frame in half.
      const ws = tr.upgrade.toLowerCase() === 'websocket'
      const toClient = ws ? new WsFrameTracker() : undefined
      const toUpstream = ws ? new WsFrameTracker() : undefined
      if (upHead.length > 0) toClient?.push(upHead)
      if (head.length > 0) toUpstream?.push(head)
      up.on('data', (c: Buffer) => {
        result.bytesOut += c.length
        toClient?.push(c)
      })
      client.on('data', (c: Buffer) => {
        result.bytesIn += c.length
        toUpstream?.push(c)
      })
      // pipe(): backpressure both ways (a slow reader pauses the other side's socket), and end() of the
      // destination when the source ends — the FIN of `exec -i` over a raw stream reaches the apiserver.
      client.pipe(up)
      up.pipe(client)

      // Idle in both directions: each socket's timer resets on its own reads and writes, and every byte
      // crosses both sockets, so either timer firing means the whole session was quiet that long.
      // setTimeout(0) also clears a keep-alive timeout the server may have left on a reused client socket.
      client.setTimeout(options.idleTimeoutMs)
      up.setTimeout(options.idleTimeoutMs)
      if (options.idleTimeoutMs > 0) {
        client.once('timeout', teardown)
        up.once('timeout', teardown)
      }
      if (keepAliveMs > 0) {
        client.setKeepAlive(true, keepAliveMs)
        up.setKeepAlive(true, keepAliveMs)
      }
      /**
       * Shutdown or revocation: WebSocket sessions get a close frame each way (1001 Going Away) when both
       * directions sit between frames, so kubectl reports a closed session rather than a broken one; the
       * sockets are destroyed shortly after whatever the peers do. SPDY and mid-frame sessions are cut.
       */
      closeSpliced = () => {
        if (state === 'done') return
        if (toClient === undefined || toUpstream === undefined || !toClient.atBoundary || !toUpstream.atBoundary ||
          client.destroyed || up.destroyed) {
          teardown()
          return
        }
        up.unpipe(client)
        client.unpipe(up)
        up.pause()
        client.pause()
        client.end(wsCloseFrame(1001, false))
        up.end(wsCloseFrame(1001, true))
        const t2 = setTimeout(teardown, 1000)
        t2.unref()
      }
    }

    function onResponse (res: IncomingMessage): void {
      if (state !== 'pending') {
        res.destroy()
        return
      }
      result.upstreamMs = performance.now() - start
      if (res.statusCode === 101) {
        // A 101 Node did not take as an upgrade (no `Connection: upgrade`): not a switch kubegate can splice.
        res.destroy()
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: 101 without Connection: upgrade', { failure: 'upgrade_mismatch' }))
        return
      }
      state = 'relaying'
      result.status = res.statusCode ?? 502
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => {
        size += c.length
        if (size > maxBody) {
          res.destroy()
          fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: refusal body too large', { failure: 'upstream_error' }))
          return
        }
        chunks.push(c)
      })
      res.on('error', () => { if (state === 'relaying') destroyBoth() })
      res.on('end', () => {
        if (state !== 'relaying') return
        // The apiserver's connection is finished: authenticated as kubegate, it must not carry anything else.
        upReq?.destroy()
        upSocket?.destroy()
        const body = Buffer.concat(chunks, size)
        result.bytesOut = body.length
        relay(res, body)
      })
    }

    /** The refusal as a complete, self-framed response; then the client connection closes (it may hold a smuggled request). */
    function relay (res: IncomingMessage, body: Buffer): void {
      const code = res.statusCode ?? 502
      let text = `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? 'Unknown'}\r\n`
      const raw = res.rawHeaders
      const named = new Set<string>()
      for (const c of lineValues(raw, 'connection')) for (const tok of c.split(',')) named.add(tok.trim().toLowerCase())
      for (let i = 0; i < raw.length; i += 2) {
        const lower = (raw[i] as string).toLowerCase()
        if (RELAY_DROP.has(lower) || named.has(lower)) continue
        text += `${raw[i] as string}: ${raw[i + 1] as string}\r\n`
      }
      text += `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`
      if (!client.destroyed) {
        client.write(Buffer.from(text, 'latin1'))
        client.write(body)
        linger(client)
      }
      finish()
    }

    return () => {
      if (state === 'spliced' && closeSpliced !== undefined) closeSpliced()
      else if (state !== 'done') {
        if (result.status === 0) result.status = 499
        destroyBoth()
      }
    }
  }

  return { tunnel }
}
/**
 * Follows RFC 6455 frame boundaries in one direction of a spliced WebSocket (headers parsed byte by byte,
 * payloads skipped in bulk: this runs on every chunk of an exec session, so it never copies).
 */
export class WsFrameTracker {
  readonly #hdr = Buffer.alloc(14)
  #hdrLen = 0
  #need = 2
  #payload = 0

  get atBoundary (): boolean {
    return this.#hdrLen === 0 && this.#payload === 0
  }

  push (chunk: Buffer): void {
    let i = 0
    const n = chunk.length
    while (i < n) {
      if (this.#payload > 0) {
        const k = Math.min(this.#payload, n - i)
        this.#payload -= k
        i += k
        continue
      }
      this.#hdr[this.#hdrLen++] = chunk[i++] as number
      if (this.#hdrLen === 2) {
        const b = this.#hdr[1] as number
        const len7 = b & 0x7f
        this.#need = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + ((b & 0x80) !== 0 ? 4 : 0)
      }
      if (this.#hdrLen >= 2 && this.#hdrLen === this.#need) {
        const len7 = (this.#hdr[1] as number) & 0x7f
        this.#payload = len7 === 126 ? this.#hdr.readUInt16BE(2) : len7 === 127 ? Number(this.#hdr.readBigUInt64BE(2)) : len7
        this.#hdrLen = 0
        this.#need = 2
      }
    }
  }
}

/** A close frame with a status code and no reason; masked when kubegate speaks as the client (to the apiserver). */
export function wsCloseFrame (code: number, masked: boolean): Buffer {
  const payload = Buffer.from([code >> 8, code & 0xff])
  if (!masked) return Buffer.concat([Buffer.from([0x88, payload.length]), payload])
  const mask = randomBytes(4)
  for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i % 4] as number)
  return Buffer.concat([Buffer.from([0x88, 0x80 | payload.length]), mask, payload])
}


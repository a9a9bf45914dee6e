import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { connect as tlsConnect, type TLSSocket } from 'node:tls'
import { KubegateError } from '../errors.js'
import { sendStatusToSocket } from '../k8s/status.js'
import { BEARER_PROTOCOL_PREFIX } from '../auth/bearer.js'
import type { UpstreamTarget } from './target.js'

export interface TunnelOptions {
  readonly target: UpstreamTarget
  /** Connect + TLS + the apiserver's answer to the upgrade request. */
  readonly responseTimeoutMs: number
  /** Both directions idle this long: the session is closed (0: never). */
  readonly idleTimeoutMs: number
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
  /** Subprotocols to offer upstream (the bearer-token protocol already removed). */
  readonly wsProtocols: readonly string[] | undefined
}

export interface TunnelResult {
  /** The apiserver's status (101 when spliced), or kubegate's own error status. */
  status: number
  spliced: boolean
  upstreamMs: number | undefined
  bytesIn: number
  bytesOut: number
  error: KubegateError | undefined
}

export interface Tunneler {
  /**
   * Opens a fresh TLS connection (never pooled, never reused), sends the upgrade request, and splices the
   * two sockets only if the apiserver answers 101 with the requested protocol. Any other answer is relayed
   * with `Connection: close` and both sockets end (CVE-2018-1002105: nothing the client sends afterwards
   * may reach the apiserver on a connection authenticated as kubegate). `onSpliced` gets a function that
   * ends the session (revocation, shutdown); `done` is called once when everything is closed.
   */
  tunnel: (t: TunnelRequest, onSpliced: (close: () => void) => void, done: (r: TunnelResult) => void) => void
}

const MAX_RESPONSE_HEAD = 16 * 1024
const MAX_RELAYED_BODY = 1024 * 1024
const HEAD_END = Buffer.from('\r\n\r\n')

interface ParsedHead { status: number, headers: Array<[string, string]>, headLength: number }

function parseResponseHead (buf: Buffer): ParsedHead | undefined | 'bad' {
  const end = buf.indexOf(HEAD_END)
  if (end === -1) return buf.length > MAX_RESPONSE_HEAD ? 'bad' : undefined
  if (end > MAX_RESPONSE_HEAD) return 'bad'
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n')
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (m === null) return 'bad'
  const headers: Array<[string, string]> = []
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string
    const colon = line.indexOf(':')
    if (colon <= 0) return 'bad'
    headers.push([line.slice(0, colon).trim(), line.slice(colon + 1).trim()])
  }
  return { status: Number(m[1]), headers, headLength: end + 4 }
}

function headerValue (h: ParsedHead, name: string): string | undefined {
  for (const [k, v] of h.headers) if (k.toLowerCase() === name) return v
  return undefined
}

export function createTunneler (options: TunnelOptions): Tunneler {
  const t = options.target
  const hostHeader = t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`

  function tunnel (tr: TunnelRequest, onSpliced: (close: () => void) => void, done: (r: TunnelResult) => void): void {
    const { req, client, head } = tr
    const start = performance.now()
    const result: TunnelResult = { status: 0, spliced: false, upstreamMs: undefined, bytesIn: 0, bytesOut: 0, error: undefined }
    let finished = false
    let upstream: TLSSocket | undefined
    let buffered: Buffer = Buffer.alloc(0)
    let phase: 'connecting' | 'awaiting' | 'spliced' | 'relaying' = 'connecting'

    const finish = (): void => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      done(result)
    }
    const fail = (err: KubegateError): void => {
      if (finished) return
      result.error = err
      result.status = err.statusCode
      upstream?.destroy()
      sendStatusToSocket(client, err)
      finish()
    }
    const closeBoth = (): void => {
      upstream?.destroy()
      client.destroy()
      finish()
    }

    const timer = setTimeout(() => {
      if (phase === 'connecting' || phase === 'awaiting') {
        fail(new KubegateError('KG_ERR_UPSTREAM_TIMEOUT', 'upgrade: no answer from the apiserver in time', { failure: 'upstream_timeout' }))
      } else if (phase === 'relaying') {
        closeBoth()
      }
    }, options.responseTimeoutMs)

    // Until spliced, the client may only close; its bytes stay unread in the socket.
    const onClientGone = (): void => {
      if (phase !== 'spliced') {
        result.status = result.status === 0 ? 499 : result.status
        closeBoth()
      }
    }
    client.once('close', onClientGone)
    client.on('error', onClientGone)

    upstream = tlsConnect({
      host: t.host,
      port: t.port,
      ca: t.ca,
      servername: t.servername,
      rejectUnauthorized: true,
      ALPNProtocols: ['http/1.1'],
    })
    const up = upstream
    up.setNoDelay(true)
    up.on('error', (err) => {
      if (phase === 'connecting' || phase === 'awaiting') {
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `upgrade: ${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`, { cause: err, failure: 'upstream_error' }))
      } else {
        closeBoth()
      }
    })
    up.once('secureConnect', () => {
      phase = 'awaiting'
      let text = `${req.method as string} ${req.url as string} HTTP/1.1\r\nHost: ${hostHeader}\r\n`
      const h = tr.headers
      for (let i = 0; i < h.length; i += 2) text += `${h[i] as string}: ${h[i + 1] as string}\r\n`
      text += `Connection: Upgrade\r\nUpgrade: ${tr.upgrade}\r\n`
      if (tr.wsProtocols !== undefined && tr.wsProtocols.length > 0) text += `Sec-WebSocket-Protocol: ${tr.wsProtocols.join(', ')}\r\n`
      up.write(text + '\r\n', 'latin1')
    })
    up.on('data', onUpstreamData)

    function onUpstreamData (chunk: Buffer): void {
      if (phase === 'relaying') {
        relay(chunk)
        return
      }
      if (phase !== 'awaiting') return
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      const parsed = parseResponseHead(buffered)
      if (parsed === undefined) return
      if (parsed === 'bad') {
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: malformed response head', { failure: 'upstream_error' }))
        return
      }
      result.upstreamMs = performance.now() - start
      result.status = parsed.status
      const rest = buffered.subarray(parsed.headLength)
      if (parsed.status === 101 && upgradeMatches(parsed)) {
        splice(buffered.subarray(0, parsed.headLength), rest)
      } else if (parsed.status === 101) {
        result.status = 502
        fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: 101 with a different protocol', { failure: 'upstream_error' }))
      } else {
        startRelay(parsed, rest)
      }
    }

    function upgradeMatches (h: ParsedHead): boolean {
      const u = headerValue(h, 'upgrade')
      if (u === undefined || u.toLowerCase() !== tr.upgrade.toLowerCase()) return false
      const proto = headerValue(h, 'sec-websocket-protocol')
      if (proto !== undefined) {
        // Never echo the bearer-token protocol, and only accept a protocol that was offered.
        if (proto.startsWith(BEARER_PROTOCOL_PREFIX)) return false
        if (tr.wsProtocols === undefined || !tr.wsProtocols.includes(proto)) return false
      }
      return true
    }

    function splice (responseHead: Buffer, rest: Buffer): void {
      phase = 'spliced'
      clearTimeout(timer)
      up.off('data', onUpstreamData)
      client.off('close', onClientGone)
      client.off('error', onClientGone)
      result.spliced = true
      if (client.destroyed) {
        up.destroy()
        finish()
        return
      }
      client.setNoDelay(true)
      client.write(responseHead)
      if (rest.length > 0) {
        result.bytesOut += rest.length
        client.write(rest)
      }
      if (head.length > 0) {
        result.bytesIn += head.length
        up.write(head)
      }
      // Frame boundaries in both directions, so a shutdown can insert close frames without cutting a frame.
      const ws = tr.upgrade.toLowerCase() === 'websocket'
      const toClient = ws ? new WsFrameTracker() : undefined
      const toUpstream = ws ? new WsFrameTracker() : undefined
      if (rest.length > 0) toClient?.push(rest)
      if (head.length > 0) toUpstream?.push(head)
      up.on('data', (c: Buffer) => {
        result.bytesOut += c.length
        toClient?.push(c)
      })
      client.on('data', (c: Buffer) => {
        result.bytesIn += c.length
        toUpstream?.push(c)
      })
      client.pipe(up)
      up.pipe(client)
      const end = (): void => {
        up.destroy()
        client.destroy()
        finish()
      }
      client.on('error', end)
      up.on('error', end)
      client.once('close', end)
      up.once('close', end)
      if (options.idleTimeoutMs > 0) {
        // Idle in both directions: each socket's timer resets on its own reads and writes, and every byte
        // crosses both sockets, so either timer firing means the whole session was quiet that long.
        const idle = (): void => end()
        client.setTimeout(options.idleTimeoutMs, idle)
        up.setTimeout(options.idleTimeoutMs, idle)
      }
      /**
       * Shutdown or revocation: WebSocket sessions get a close frame each way (1001 Going Away) when both
       * directions sit between frames, so kubectl reports a closed session rather than a broken one; the
       * sockets are destroyed shortly after whatever the peers do. SPDY and mid-frame sessions are cut.
       */
      const closeCleanly = (): void => {
        if (finished) return
        if (toClient === undefined || toUpstream === undefined || !toClient.atBoundary || !toUpstream.atBoundary ||
          client.destroyed || up.destroyed) {
          end()
          return
        }
        up.unpipe(client)
        client.unpipe(up)
        up.pause()
        client.pause()
        client.end(wsCloseFrame(1001, false))
        up.end(wsCloseFrame(1001, true))
        const t2 = setTimeout(end, 1000)
        t2.unref()
      }
      onSpliced(closeCleanly)
    }

    let relayRemaining = 0
    let relayChunked = false
    function startRelay (h: ParsedHead, rest: Buffer): void {
      phase = 'relaying'
      let head = `HTTP/1.1 ${h.status} ${statusText(h.status)}\r\n`
      let cl: number | undefined
      for (const [k, v] of h.headers) {
        const lk = k.toLowerCase()
        if (lk === 'connection' || lk === 'keep-alive' || lk === 'upgrade' || lk === 'proxy-connection') continue
        if (lk === 'content-length') cl = Number(v)
        if (lk === 'transfer-encoding' && v.toLowerCase().includes('chunked')) relayChunked = true
        head += `${k}: ${v}\r\n`
      }
      head += 'Connection: close\r\n\r\n'
      relayRemaining = Math.min(cl ?? MAX_RELAYED_BODY, MAX_RELAYED_BODY)
      if (!client.destroyed) client.write(Buffer.from(head, 'latin1'))
      if (cl === 0) {
        endRelay()
        return
      }
      relay(rest)
    }
    function relay (chunk: Buffer): void {
      if (chunk.length === 0) return
      const part = chunk.subarray(0, relayRemaining)
      relayRemaining -= part.length
      result.bytesOut += part.length
      if (!client.destroyed) client.write(part)
      const chunkedDone = relayChunked && part.length >= 5 && part.subarray(part.length - 5).toString('latin1') === '0\r\n\r\n'
      if (relayRemaining <= 0 || chunkedDone) endRelay()
    }
    function endRelay (): void {
      up.destroy()
      client.end()
      const t2 = setTimeout(() => client.destroy(), 2000)
      t2.unref()
      finish()
    }
    up.once('end', () => {
      if (phase === 'relaying') endRelay()
      else if (phase === 'awaiting') fail(new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', 'upgrade: apiserver closed without answering', { failure: 'upstream_error' }))
    })
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

function statusText (code: number): string {
  switch (code) {
    case 400: return 'Bad Request'
    case 401: return 'Unauthorized'
    case 403: return 'Forbidden'
    case 404: return 'Not Found'
    case 500: return 'Internal Server Error'
    default: return code >= 300 && code < 400 ? 'Redirect' : 'Error'
  }
}

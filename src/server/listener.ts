// The proxy's HTTP(S) listener: server options, serving certificate, the parser-error answer, traffic counting, listen and close.
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { Logger } from 'pino'
import type { Config } from '../config/load.js'
import { KubegateError } from '../errors.js'
import { statusBuffer } from '../k8s/status.js'
import type { RequestHandlers } from './handler.js'

/** The serving certificate and key, as read from their files. */
export interface TlsMaterial {
  readonly cert: Buffer
  readonly key: Buffer
}

/** The serving certificate and key; undefined without both files. Throws when the key does not match. */
export function readTls (config: Config): TlsMaterial | undefined {
  if (config.tls.certFile === undefined || config.tls.privateKeyFile === undefined) return undefined
  const cert = readFileSync(config.tls.certFile)
  const key = readFileSync(config.tls.privateKeyFile)
  // Throws on a key that does not match the certificate (e.g. read between the two files' rotation).
  createSecureContext({ cert, key })
  return { cert, key }
}

/** Node's HTTP server settings for the proxy listener, from `config.server`. */
export function serverOptions (config: Config) {
  return {
    // Node's strict parser (invariant 8); 16 KiB header block (invariant 9).
    insecureHTTPParser: false,
    maxHeaderSize: 16 * 1024,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    headersTimeout: config.server.headersTimeoutSeconds * 1000,
    requestTimeout: config.server.requestTimeoutSeconds * 1000,
    keepAliveTimeout: config.server.keepAliveTimeoutSeconds * 1000,
    // Node checks headers/request timeouts on this interval (default 30 s, which would let a slow-headers
    // client hold a connection well past headersTimeout).
    connectionsCheckingInterval: Math.min(1000, config.server.headersTimeoutSeconds * 250),
    noDelay: true,
  }
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported' }

/**
 * Answers what Node's HTTP parser refused (malformed framing, oversized headers, slow headers) with a Status
 * body and closes. Nothing has been read into a request, so nothing was forwarded.
 */
export function answerClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408
      : err.code === 'HPE_INVALID_VERSION' ? 505 : 400
  const e = code === 431 ? new KubegateError('KG_ERR_HEADERS_TOO_LARGE') : new KubegateError('KG_ERR_BAD_REQUEST')
  const body = code === 408 || code === 505 ? Buffer.alloc(0) : statusBuffer(e.code)
  socket.end(Buffer.concat([Buffer.from(
    `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    'latin1'), body]))
  socket.destroySoon?.()
}

/**
 * The proxy listener: HTTPS when a serving certificate is configured, plain HTTP otherwise (loopback tests).
 * Counts ordinary requests in flight (gauge and drain) and, once shutting down, asks kept-alive clients to
 * go elsewhere.
 */
export class Listener {
  readonly server: Server
  #tls: TlsMaterial | undefined
  #inflight = 0
  #shuttingDown = false
  readonly #requestDone = (): void => { this.#inflight-- }

  constructor (config: Config, logger: Logger) {
    const options = serverOptions(config)
    this.#tls = readTls(config)
    if (this.#tls !== undefined) {
      this.server = createHttpsServer({
        ...options,
        cert: this.#tls.cert,
        key: this.#tls.key,
        minVersion: 'TLSv1.2',
        ALPNProtocols: ['http/1.1'],
        // As node:http does for plain sockets: a client's FIN ends only its direction. Ordinary requests are
        // unaffected (the HTTP layer ends the socket on FIN); an upgraded tunnel carries the half-close across.
        allowHalfOpen: true,
      })
    } else {
      this.server = createHttpServer(options)
      logger.warn('no tls.certFile/tls.privateKeyFile: serving PLAIN HTTP. Tokens cross the network in clear text; use this on loopback for testing only.')
    }
    this.server.on('clientError', answerClientError)
  }

  get tls (): TlsMaterial | undefined { return this.#tls }
  get inflight (): number { return this.#inflight }
  get shuttingDown (): boolean { return this.#shuttingDown }

  /** Routes the server's events to the request pipeline, behind the in-flight counter. */
  attach (handlers: RequestHandlers): void {
    // First listener: counts the request and asks a kept-alive client to leave when shutting down. No closure per request.
    this.server.on('request', (_req: IncomingMessage, res: ServerResponse) => { this.#count(res) })
    this.server.on('request', handlers.onRequest)
    this.server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
      this.#count(res)
      handlers.onCheckContinue(req, res)
    })
    this.server.on('upgrade', handlers.onUpgrade)
    this.server.on('connect', handlers.onConnect)
  }

  #count (res: ServerResponse): void {
    this.#inflight++
    res.once('close', this.#requestDone)
    if (this.#shuttingDown) res.shouldKeepAlive = false
  }

  /** New handshakes get the new certificate; established connections keep theirs. */
  setTls (next: TlsMaterial): void {
    ;(this.server as HttpsServer).setSecureContext({ cert: next.cert, key: next.key, minVersion: 'TLSv1.2' })
    this.#tls = next
  }

  /** Listens and resolves with the proxy's URL. */
  async listen (host: string, port: number): Promise<{ url: string, port: number }> {
    const server = this.server
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
    const addr = server.address() as AddressInfo
    const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    return { url: `${this.#tls !== undefined ? 'https' : 'http'}://${h}:${addr.port}`, port: addr.port }
  }

  /** From now on, kept-alive clients get `Connection: close` on their next response. */
  beginShutdown (): void {
    this.#shuttingDown = true
  }

  /** Stops accepting connections and closes idle ones. */
  stopAccepting (): void {
    this.#shuttingDown = true
    if (this.server.listening) this.server.close()
    this.server.closeIdleConnections()
  }

  /**
   * Stops accepting and waits (up to 5 s) for requests in flight; `closeSessions` ends watches and upgraded
   * sessions first so they do not hold the close. Then every connection is closed.
   */
  async close (closeSessions: () => void): Promise<void> {
    const server = this.server
    this.#shuttingDown = true
    const closed = new Promise<void>((resolve) => {
      if (server.listening) server.close(() => resolve())
      else resolve()
    })
    closeSessions()
    server.closeIdleConnections()
    const t = setTimeout(() => server.closeAllConnections(), 5000)
    t.unref()
    // A server closed earlier (stopAccepting) has no close callback left: wait for its connections instead.
    await closed
    const deadline = Date.now() + 5000
    while (this.#inflight > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    server.closeAllConnections()
    clearTimeout(t)
  }
}

// Forwards plain HTTP requests to the apiserver over undici's pooled, verified TLS connections, streaming both bodies.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createSecureContext } from 'node:tls'
import { Pool, type Dispatcher } from 'undici'
import { KubegateError } from '../errors.js'
import { sendStatus } from '../k8s/status.js'
import type { UpstreamTarget } from './target.js'

export interface ForwarderOptions {
  readonly target: UpstreamTarget
  readonly connections: number
  /** Time for response headers on ordinary requests. Watches, `logs -f` and streams have none. */
  readonly headersTimeoutMs: number
  readonly keepAliveTimeoutMs?: number
}

/** What the forwarder reports when a response is over (for the access log and metrics). */
export interface ForwardResult {
  status: number
  bytes: number
  /** ms from dispatch to response headers (undefined when none arrived). */
  upstreamMs: number | undefined
  error: KubegateError | undefined
  /** The client went away before the response completed. */
  aborted: boolean
}

export interface Forwarder {
  /**
   * Sends the request upstream with exactly `headers` (the caller has already removed everything the
   * client may not set and appended kubegate's Authorization and Impersonate-* lines) and streams the
   * response back. `done` is called once. Returns `stop`, which ends the exchange cleanly: the upstream
   * request is aborted and the client's response is ended with its proper terminator (a watch then ends
   * the way an apiserver-side timeout ends it, and clients re-list), or a 503 Status if nothing was sent.
   */
  forward: (req: IncomingMessage, res: ServerResponse, headers: string[], hasBody: boolean, longRunning: boolean,
    done: (r: ForwardResult) => void) => () => void
  /** One cheap request on the pool (readiness: is the apiserver there, over verified TLS); resolves the status. */
  probe: (path: string, authorization: string, timeoutMs: number) => Promise<number>
  /** Waits for in-flight requests (not new ones), then closes the pool's connections. */
  close: () => Promise<void>
  destroy: () => Promise<void>
}

/** Response headers that describe the upstream connection, not the resource; Node sets its own. */
const RESPONSE_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer'])

/**
 * Forwards on undici's Pool with the low-level `dispatch` handler API: in the forwarder comparison
 * (bench/, docs/design.md) it moved the most requests per CPU second of the candidates (undici stream,
 * undici request, node:http + pipe, http-proxy). The handler streams both ways with backpressure and
 * never buffers a body; redirects are relayed, never followed (plain dispatch has no redirect logic).
 */
export function createForwarder (options: ForwarderOptions): Forwarder {
  const t = options.target
  const poolOptions: Pool.Options = {
    connections: options.connections,
    pipelining: 1,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 30_000,
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: 0,
    connect: {
      // One TLS context (CA store) for every upstream connection. With `ca` alone, tls.connect builds a
      // context per connection, which each open watch then holds: ~22 KiB RSS per watch (bench/README.md,
      // "Watches memory"). Verification is unchanged: the context carries the CA, the socket checks the name.
      secureContext: createSecureContext({ ca: t.ca }),
      servername: t.servername,
      rejectUnauthorized: true,
      ALPNProtocols: ['http/1.1'],
    },
  }
  const pool = new Pool(t.origin, poolOptions)
  // Watches and `logs -f` hold their upstream connection for their whole life. On the bounded pool, the
  // (connections+1)-th watch would queue behind the others and hang (measured: pool of 4, 10 watches, 4
  // answered; a classroom's 1,000 watches against the default 128). They get their own pool without a
  // connection cap: one upstream connection per open client stream, never more, so it amplifies nothing.
  const streams = new Pool(t.origin, { ...poolOptions, connections: null })

  function forward (req: IncomingMessage, res: ServerResponse, headers: string[], hasBody: boolean, longRunning: boolean,
    done: (r: ForwardResult) => void): () => void {
    const handler = new ProxyHandler(req, res, longRunning, done)
    const opts: Dispatcher.DispatchOptions = {
      path: req.url as string,
      method: req.method as Dispatcher.HttpMethod,
      headers,
      body: hasBody ? req : null,
      headersTimeout: longRunning ? 0 : options.headersTimeoutMs,
      bodyTimeout: 0,
    }
    const dispatcher = longRunning ? streams : pool
    dispatcher.dispatch(opts, handler)
    return handler.stop
  }

  async function probe (path: string, authorization: string, timeoutMs: number): Promise<number> {
    const res = await pool.request({
      path,
      method: 'GET',
      headers: { authorization },
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: AbortSignal.timeout(timeoutMs),
    })
    await res.body.dump({ limit: 64 * 1024 })
    return res.statusCode
  }

  return {
    forward,
    probe,
    close: async () => { await Promise.all([pool.close(), streams.close()]) },
    destroy: async () => { await Promise.all([pool.destroy(), streams.destroy()]) },
  }
}

class ProxyHandler implements Dispatcher.DispatchHandler {
  readonly #req: IncomingMessage
  readonly #res: ServerResponse
  readonly #longRunning: boolean
  readonly #done: (r: ForwardResult) => void
  readonly #start = performance.now()
  #abort: ((err?: Error) => void) | undefined
  #resume: (() => void) | undefined
  #result: ForwardResult = { status: 0, bytes: 0, upstreamMs: undefined, error: undefined, aborted: false }
  #finished = false

  constructor (req: IncomingMessage, res: ServerResponse, longRunning: boolean, done: (r: ForwardResult) => void) {
    this.#req = req
    this.#res = res
    this.#longRunning = longRunning
    this.#done = done
    res.once('close', this.#onClientClose)
  }

  readonly #onClientClose = (): void => {
    if (this.#finished) return
    // The client went away: abort the upstream request so a dropped watch does not stay open upstream.
    this.#result.aborted = true
    this.#abort?.(new Error('client closed'))
    this.#finish()
  }

  readonly #onDrain = (): void => {
    this.#resume?.()
  }

  /** Clean end (shutdown, revocation): abort upstream, end the client response properly. */
  readonly stop = (): void => {
    if (this.#finished) return
    const res = this.#res
    const sent = res.headersSent
    if (!sent) this.#result.status = 503
    this.#finish()
    this.#abort?.(new Error('stopped by kubegate'))
    if (res.destroyed) return
    // For chunked responses (watches) end() writes the terminating chunk: the stream ends, not breaks.
    if (sent) res.end()
    else sendStatus(res, new KubegateError('KG_ERR_SHUTTING_DOWN'), true)
    this.#req.resume()
  }

  #finish (): void {
    if (this.#finished) return
    this.#finished = true
    this.#res.off('close', this.#onClientClose)
    this.#done(this.#result)
  }

  onConnect (abort: (err?: Error) => void): void {
    this.#abort = abort
    if (this.#res.destroyed || this.#finished) abort(new Error('client closed'))
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#finished) return false
    this.#resume = resume
    this.#result.status = statusCode
    this.#result.upstreamMs = performance.now() - this.#start
    const out: string[] = []
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as Buffer).toString('latin1')
      if (RESPONSE_DROP.has(name.toLowerCase())) continue
      out.push(name, (rawHeaders[i + 1] as Buffer).toString('latin1'))
    }
    const res = this.#res
    if (res.destroyed) return false
    res.writeHead(statusCode, statusText, out)
    // A watch or `logs -f` must show its first bytes now, not when the first event happens to arrive.
    if (this.#longRunning) res.flushHeaders()
    return true
  }

  onData (chunk: Buffer): boolean {
    if (this.#finished) return false
    this.#result.bytes += chunk.length
    const res = this.#res
    if (res.destroyed) return false
    const ok = res.write(chunk)
    if (!ok) res.once('drain', this.#onDrain)
    return ok
  }

  onComplete (): void {
    if (this.#finished) return
    if (!this.#res.destroyed) this.#res.end()
    this.#finish()
  }

  onError (err: Error): void {
    if (this.#finished) return
    if (this.#result.aborted) {
      this.#finish()
      return
    }
    const e = upstreamError(err)
    this.#result.error = e
    const res = this.#res
    if (!res.headersSent && !res.destroyed) {
      this.#result.status = e.statusCode
      sendStatus(res, e, true)
    } else {
      // Mid-body failure: the only honest signal left is to cut the connection.
      res.destroy()
    }
    this.#req.resume()
    this.#finish()
  }
}

/** Maps transport failures to Status codes without echoing addresses or certificate details to clients. */
export function upstreamError (err: Error): KubegateError {
  const code = (err as { code?: string }).code ?? ''
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') {
    return new KubegateError('KG_ERR_UPSTREAM_TIMEOUT', `${code}: ${err.message}`, { cause: err, failure: 'upstream_timeout' })
  }
  return new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', `${code}: ${err.message}`, { cause: err, failure: 'upstream_error' })
}

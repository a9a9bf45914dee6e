// kubegate's own calls to the apiserver API (SubjectAccessReview, TokenReview): one JSON POST with kubegate's credential, on a pool of its own.
import { Pool } from 'undici'
import { KubegateError } from '../errors.js'
import type { UpstreamTarget } from '../upstream/target.js'

export interface ApiClientOptions {
  /** The apiserver as configured now (read at each call: a reload may point kubegate elsewhere). */
  readonly target: () => UpstreamTarget
  /** kubegate's current `Bearer <token>` (read at each call: the file rotates). */
  readonly authorization: () => string
  /** Whole-call limit (connect, headers and body); a review that takes longer fails closed. */
  readonly timeoutMs: number
  readonly connections?: number
  /**
   * Reviews waiting or in flight at once; beyond this a new one fails at once (503, `review_busy`) instead of
   * queueing without bound: a stream of distinct forged tokens must not grow kubegate's memory or the
   * apiserver's queue. Same spirit as cache.maxPendingVerifications for kubegate's own verification.
   */
  readonly maxPending?: number
}

export interface ApiClient {
  /**
   * `POST <path>` with `object` as JSON; resolves the parsed object of a 200/201 answer. Rejects with
   * KG_ERR_REVIEW_NOT_PERMITTED when the apiserver refuses kubegate itself (401, 403: its RBAC lacks the
   * right) and KG_ERR_REVIEW_UNAVAILABLE for anything else (unreachable, slow, 5xx, 429, unreadable answer).
   */
  create: (path: string, object: unknown) => Promise<unknown>
  close: () => Promise<void>
}

/** Review answers are small; a larger one is not a review. */
const MAX_BODY_BYTES = 1024 * 1024

/**
 * Reviews go on their own small pool rather than the forwarder's: a review must not queue behind a
 * burst of proxied requests it is gating, and the forwarder's pool is sized for those. Same TLS rules as
 * the forwarder (the configured CA and server name, verification always on, HTTP/1.1), no redirects.
 */
export function createApiClient (options: ApiClientOptions): ApiClient {
  return new ReviewClient(options)
}

class ReviewClient implements ApiClient {
  readonly #options: ApiClientOptions
  readonly #maxPending: number
  #pending = 0
  #target: UpstreamTarget | undefined
  #pool: Pool | undefined

  constructor (options: ApiClientOptions) {
    this.#options = options
    this.#maxPending = options.maxPending ?? 256
  }

  async create (path: string, object: unknown): Promise<unknown> {
    if (this.#pending >= this.#maxPending) {
      throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', `POST ${path}: ${this.#pending} reviews pending`, { failure: 'review_busy', retryAfter: 1 })
    }
    this.#pending++
    try {
      return await this.#send(path, object)
    } finally {
      this.#pending--
    }
  }

  async close (): Promise<void> {
    await this.#pool?.close()
  }

  /** The pool for the current target; a new target (reload) gets a new pool and the old one is closed. */
  #poolFor (t: UpstreamTarget): Pool {
    if (this.#pool !== undefined && this.#target === t) return this.#pool
    const old = this.#pool
    this.#target = t
    this.#pool = new Pool(t.origin, {
      connections: this.#options.connections ?? 8,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: { ca: t.ca, servername: t.servername, rejectUnauthorized: true, ALPNProtocols: ['http/1.1'] },
    })
    if (old !== undefined) void old.close().catch(() => {})
    return this.#pool
  }

  async #send (path: string, object: unknown): Promise<unknown> {
    const timeoutMs = this.#options.timeoutMs
    let res: Awaited<ReturnType<Pool['request']>>
    let text: string
    try {
      res = await this.#poolFor(this.#options.target()).request({
        path,
        method: 'POST',
        headers: { authorization: this.#options.authorization(), 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(object),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      })
      text = await readLimited(res.body)
    } catch (err) {
      throw unavailable(path, err)
    }
    return parseAnswer(path, res.statusCode, text)
  }
}

/** 200/201 with JSON: the object; 401/403: kubegate lacks the right; anything else: unavailable. */
function parseAnswer (path: string, statusCode: number, text: string): unknown {
  if (statusCode === 401 || statusCode === 403) {
    throw new KubegateError('KG_ERR_REVIEW_NOT_PERMITTED', `POST ${path}: the apiserver answered ${statusCode}`, { failure: 'review_not_permitted' })
  }
  if (statusCode !== 200 && statusCode !== 201) {
    throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', `POST ${path}: the apiserver answered ${statusCode}`, { failure: 'review_failed' })
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', `POST ${path}: the answer is not JSON`, { cause: err, failure: 'review_failed' })
  }
}

async function readLimited (body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of body) {
    n += c.length
    if (n > MAX_BODY_BYTES) throw new Error('review answer too large')
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function unavailable (path: string, err: unknown): KubegateError {
  const e = err as { code?: string, name?: string, message?: string }
  const what = e.code ?? e.name ?? 'error'
  return new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', `POST ${path}: ${what}: ${e.message ?? String(err)}`, {
    cause: err,
    failure: e.name === 'TimeoutError' || (e.code ?? '').includes('TIMEOUT') ? 'review_timeout' : 'review_unreachable',
  })
}

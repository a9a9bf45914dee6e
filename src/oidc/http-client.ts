// Fetches the issuer's JSON documents (discovery, JWKS) over undici with the configured CA, bounded in size and time, never following redirects.
import { Agent, request } from 'undici'
import type { IncomingHttpHeaders } from 'undici/types/header.js'

/** A JSON document fetched from the issuer, with the headers that govern its caching. */
export interface FetchedJson {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: unknown
}

export interface IssuerHttpOptions {
  /** PEM CA bundle for the issuer; system roots when absent. */
  readonly ca?: string | undefined
  readonly timeoutMs?: number
  /** Discovery documents and key sets are small; a larger answer is refused rather than buffered. */
  readonly maxBytes?: number
}

export type FetchJson = (url: string) => Promise<FetchedJson>

/**
 * GETs JSON from the issuer over undici with bounded size and time. Redirects are never followed
 * (undici's `request` does not follow them without an interceptor, and a 3xx is reported as an error here):
 * a key set must come from where discovery said, not from wherever a compromised hop points.
 */
export function createIssuerHttp (options: IssuerHttpOptions = {}): { fetchJson: FetchJson, close: () => Promise<void> } {
  const timeoutMs = options.timeoutMs ?? 10_000
  const maxBytes = options.maxBytes ?? 512 * 1024
  const agent = new Agent({
    connect: { ca: options.ca, rejectUnauthorized: true, timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 4,
  })

  async function fetchJson (url: string): Promise<FetchedJson> {
    const u = new URL(url)
    if (u.protocol !== 'https:') throw new Error(`refusing non-https issuer URL ${u.origin}`)
    const signal = AbortSignal.timeout(timeoutMs)
    const res = await request(u, {
      dispatcher: agent,
      method: 'GET',
      headers: { accept: 'application/json', 'user-agent': 'kubegate' },
      signal,
    })
    if (res.statusCode !== 200) {
      discard(res.body)
      throw new Error(`GET ${u.origin}${u.pathname}: HTTP ${res.statusCode}`)
    }
    const declared = Number(res.headers['content-length'])
    if (Number.isFinite(declared) && declared > maxBytes) {
      discard(res.body)
      throw new Error(`GET ${u.origin}${u.pathname}: response of ${declared} bytes exceeds ${maxBytes}`)
    }
    const chunks: Buffer[] = []
    let size = 0
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length
      if (size > maxBytes) {
        res.body.destroy()
        throw new Error(`GET ${u.origin}${u.pathname}: response exceeds ${maxBytes} bytes`)
      }
      chunks.push(chunk as Buffer)
    }
    let body: unknown
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'))
    } catch {
      throw new Error(`GET ${u.origin}${u.pathname}: response is not JSON`)
    }
    return { status: res.statusCode, headers: res.headers, body }
  }

  return { fetchJson, close: () => agent.close() }
}

/**
 * Drops a response body without reading it. undici's body stream emits an AbortError when destroyed; with
 * no listener that would be an uncaught exception, i.e. a crash triggered by whatever the issuer sends.
 */
function discard (body: NodeJS.ReadableStream & { destroy: (err?: Error) => void }): void {
  body.on('error', () => {})
  body.destroy()
}

/** `max-age` from a Cache-Control header, in seconds: undefined when absent, 0 for `no-store`/`no-cache`. */
export function maxAgeSeconds (cacheControl: string | string[] | undefined): number | undefined {
  const value = Array.isArray(cacheControl) ? cacheControl.join(',') : cacheControl
  if (value === undefined) return undefined
  let maxAge: number | undefined
  for (const part of value.split(',')) {
    const d = part.trim().toLowerCase()
    if (d === 'no-store' || d === 'no-cache') return 0
    const m = /^max-age=(\d+)$/.exec(d)
    if (m !== null) maxAge = Number(m[1])
  }
  return maxAge
}

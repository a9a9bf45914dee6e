/** Small HTTP(S) client for the shared-state tests: a fresh connection per call, the test CA trusted. */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { getTestPki } from '../../helpers/pki.js'

const ca = (await getTestPki()).caPem

function request (url: string, opts: RequestOptions, cb: (res: IncomingMessage) => void): ReturnType<typeof httpRequest> {
  return url.startsWith('https:') ? httpsRequest(url, { ...opts, ca }, cb) : httpRequest(url, opts, cb)
}

export interface Reply { status: number, headers: IncomingMessage['headers'], text: string, ms: number }

export function call (url: string, o: { method?: string, token?: string, body?: unknown, timeoutMs?: number } = {}): Promise<Reply> {
  const t0 = performance.now()
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = {}
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
    let body: string | undefined
    if (o.body !== undefined) {
      body = JSON.stringify(o.body)
      headers['content-type'] = 'application/json'
    }
    const req = request(url, { method: o.method ?? 'GET', headers, agent: false, timeout: o.timeoutMs ?? 5000 }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text, ms: performance.now() - t0 }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

export interface OpenWatch { response: Promise<IncomingMessage>, closed: Promise<number>, stop: () => void }

/** Opens a watch; `closed` resolves with the time (performance.now) the stream ended. */
export function openWatch (url: string, token: string): OpenWatch {
  let stop = (): void => undefined
  let resolveClosed: (t: number) => void = () => undefined
  const closed = new Promise<number>((resolve) => { resolveClosed = resolve })
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, (res) => {
      res.on('data', () => undefined)
      res.on('close', () => resolveClosed(performance.now()))
      res.on('error', () => undefined)
      resolve(res)
    })
    req.on('error', (err) => {
      resolveClosed(performance.now())
      reject(err)
    })
    req.end()
    stop = () => req.destroy()
  })
  response.catch(() => undefined)
  return { response, closed, stop: () => stop() }
}

export async function until<T> (fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: T | undefined
  for (let i = 0; i < 2000 && Date.now() < deadline; i++) {
    last = await fn()
    if (ok(last)) return last
    await new Promise((r) => setTimeout(r, 20))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last)}`)
}

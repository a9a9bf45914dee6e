/**
 * Scenario 7: the same bare pass-through (no authentication; fixed Authorization and Impersonate-* lines
 * added, client Authorization dropped) on four forwarding mechanisms, behind the same HTTPS listener:
 *   dispatch   - kubegate's src/upstream/forwarder.ts (undici Pool.dispatch with its own handler)
 *   stream     - undici Pool.stream, response piped into the ServerResponse
 *   http-pipe  - node:https.request with a keep-alive Agent, piped both ways
 *   http-proxy - the http-proxy package with a keep-alive Agent
 * argv: <kind> <json {upstream, ca, cert, key}>.
 */
import { readFileSync } from 'node:fs'
import { Agent as HttpsAgent, request as httpsRequest, createServer } from 'node:https'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Writable } from 'node:stream'
import httpProxy from 'http-proxy'
import { Pool } from 'undici'
import type * as ForwarderModule from '../../src/upstream/forwarder.js'
import { kubegateModule } from '../lib/dist.js'

const { createForwarder } = await kubegateModule<typeof ForwarderModule>('upstream/forwarder.js')

const kind = process.argv[2] as string
const o = JSON.parse(readFileSync(process.argv[3] as string, 'utf8')) as { upstream: string, ca: string, cert: string, key: string }
const ca = readFileSync(o.ca, 'utf8')
const u = new URL(o.upstream)
const FIXED = ['Authorization', 'Bearer bench-service-account-token', 'Impersonate-User', 'user0@example.com', 'Impersonate-Group', 'students']
const DROP = new Set(['authorization', 'host', 'connection', 'keep-alive'])

function outHeaders (req: IncomingMessage): string[] {
  const h: string[] = []
  const raw = req.rawHeaders
  for (let i = 0; i < raw.length; i += 2) if (!DROP.has((raw[i] as string).toLowerCase())) h.push(raw[i] as string, raw[i + 1] as string)
  h.push(...FIXED)
  return h
}

let handle: (req: IncomingMessage, res: ServerResponse) => void
switch (kind) {
  case 'dispatch': {
    const f = createForwarder({
      target: { origin: u.origin, host: u.hostname, port: Number(u.port), ca, servername: undefined, tokenFile: undefined, staticToken: 'x', source: 'flags' },
      connections: 128,
      headersTimeoutMs: 60_000,
    })
    handle = (req, res) => f.forward(req, res, outHeaders(req), false, false, () => {})
    break
  }
  case 'stream': {
    const pool = new Pool(u.origin, { connections: 128, connect: { ca } })
    handle = (req, res) => {
      pool.stream({ path: req.url as string, method: 'GET', headers: outHeaders(req) }, ({ statusCode, headers }) => {
        const h: Record<string, string | string[]> = {}
        for (const [k, v] of Object.entries(headers)) if (v !== undefined && !DROP.has(k) && k !== 'transfer-encoding') h[k] = v
        res.writeHead(statusCode, h)
        return res as unknown as Writable
      }, (err) => { if (err !== null && !res.headersSent) { res.statusCode = 502; res.end() } })
    }
    break
  }
  case 'http-pipe': {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 128, ca })
    handle = (req, res) => {
      const h: Record<string, string> = {}
      const list = outHeaders(req)
      for (let i = 0; i < list.length; i += 2) h[list[i] as string] = list[i + 1] as string
      const up = httpsRequest({ host: u.hostname, port: u.port, path: req.url, method: req.method, headers: h, agent }, (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers)
        ures.pipe(res)
      })
      up.on('error', () => { if (!res.headersSent) { res.statusCode = 502; res.end() } })
      req.pipe(up)
    }
    break
  }
  case 'http-proxy': {
    const agent = new HttpsAgent({ keepAlive: true, maxSockets: 128, ca })
    const proxy = httpProxy.createProxyServer({ target: { protocol: 'https:', host: u.hostname, port: u.port, ca } as never, agent, secure: true, xfwd: false })
    proxy.on('proxyReq', (preq) => {
      preq.removeHeader('authorization')
      for (let i = 0; i < FIXED.length; i += 2) preq.setHeader(FIXED[i] as string, FIXED[i + 1] as string)
    })
    proxy.on('error', (_e, _req, res) => { const r = res as ServerResponse; if (!r.headersSent) { r.statusCode = 502; r.end() } })
    handle = (req, res) => proxy.web(req, res)
    break
  }
  default:
    throw new Error(`unknown forwarder ${kind}`)
}

const server = createServer({ cert: readFileSync(o.cert), key: readFileSync(o.key), keepAliveTimeout: 65_000, noDelay: true }, handle)
server.listen(0, '127.0.0.1', () => process.send?.({ type: 'ready', url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` }))
process.on('disconnect', () => process.exit(0))
process.on('SIGTERM', () => process.exit(0))

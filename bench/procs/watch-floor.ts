/**
 * Floors for bench/watch-mem.ts: the least a Node process can hold per open watch.
 * argv: <mode> <port> <cert> <key> <upstreamUrl> <caFile>. Modes: `floor-tls` (HTTPS server holding each
 * chunked response open, no upstream), `floor-proxy` (the same, forwarding on undici's Pool without a cap),
 * `floor-proxy-ctx` (one shared upstream TLS context), `floor-proxy-h2` (that, with HTTP/2 upstream).
 * IPC: `mem` (gc, then memory figures).
 */
import { readFileSync } from 'node:fs'
import { createServer } from 'node:https'
import { createSecureContext } from 'node:tls'
import { Pool, type Dispatcher } from 'undici'

const [mode, port, certFile, keyFile, upstreamUrl, caFile] = process.argv.slice(2) as [string, string, string, string, string, string]
const ca = readFileSync(caFile)
// floor-proxy-ctx: one SecureContext for every upstream connection (tls.connect makes one per call otherwise).
const tlsOptions = mode === 'floor-proxy' ? { ca } : { secureContext: createSecureContext({ ca }) }
// floor-proxy-h2: HTTP/2 towards an upstream that offers it, the watches multiplexed on its connections. undici's
// `pipelining` caps streams per connection in h2 too (1 would mean one connection per watch again), and on an
// upstream that answers HTTP/1.1 the same setting would pipeline watches behind each other: a floor, not a design.
const pool = new Pool(upstreamUrl, { connections: null, pipelining: mode === 'floor-proxy-h2' ? 100 : 1, headersTimeout: 0, bodyTimeout: 0, allowH2: mode === 'floor-proxy-h2', connect: { ...tlsOptions, rejectUnauthorized: true } })

const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) }, (req, res) => {
  if (mode === 'floor-tls') {
    res.writeHead(200, { 'Content-Type': 'application/json' })
    res.flushHeaders()
    return
  }
  const handler: Dispatcher.DispatchHandler = {
    onConnect () {},
    onHeaders (status) { res.writeHead(status, { 'Content-Type': 'application/json' }); res.flushHeaders(); return true },
    onData (chunk) { return res.write(chunk) },
    onComplete () { res.end() },
    onError () { res.destroy() },
  }
  pool.dispatch({ path: req.url as string, method: 'GET', headers: { authorization: 'Bearer x' } }, handler)
})
server.listen(Number(port), '127.0.0.1', () => { process.send?.({ type: 'ready', url: `https://127.0.0.1:${port}` }) })

const gc = (globalThis as { gc?: () => void }).gc
process.on('message', (m: { type: string, id?: number }) => {
  if (m.type !== 'mem') return
  for (let i = 0; i < 3; i++) gc?.()
  const u = process.memoryUsage()
  process.send?.({ type: 'mem', id: m.id, rss: u.rss, heapUsed: u.heapUsed, heapTotal: u.heapTotal, external: u.external, arrayBuffers: u.arrayBuffers })
})
process.on('disconnect', () => process.exit(0))

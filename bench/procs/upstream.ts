/**
 * The bench's upstream: answers like kube-apiserver for the two requests the scenarios make, and nothing
 * else, so it costs as little CPU as possible (it shares a core with the load generator):
 * - `GET /api/v1/namespaces/<ns>/pods` -> a precomputed ~2 KB PodList;
 * - the same with `?watch=1` -> a chunked watch stream held open; events are pushed on request (IPC).
 * It counts requests by the impersonated user so the forged-token scenario can assert that no forged
 * request was ever forwarded. Child process entry: `node --import tsx bench/procs/upstream.ts <cert> <key>`.
 */
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createSecureServer } from 'node:http2'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'

const [certFile, keyFile, protocol] = process.argv.slice(2) as [string, string, string | undefined]
/** `h2`: HTTP/2 offered by ALPN (HTTP/1.1 still answered), 100 streams per connection like kube-apiserver's default. */
const H2 = protocol === 'h2'

function pod (i: number): Record<string, unknown> {
  return {
    metadata: { name: `web-${i}`, namespace: 'user01', uid: `0f0c5a3e-7d0b-4a8e-9d7f-00000000000${i}`, resourceVersion: String(1000 + i), creationTimestamp: '2025-01-01T00:00:00Z', labels: { app: 'web' } },
    spec: { containers: [{ name: 'web', image: 'nginx:1.27', ports: [{ containerPort: 80, protocol: 'TCP' }] }], nodeName: 'node-1' },
    status: { phase: 'Running', podIP: `10.0.0.${i}`, startTime: '2025-01-01T00:00:01Z' },
  }
}
const items = []
let body = ''
for (let i = 1; i < 20; i++) {
  items.push(pod(i))
  const next = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '2000' }, items })
  if (next.length > 2048) break
  body = next
}
const LIST = Buffer.from(body)
const LIST_HEADERS = { 'Content-Type': 'application/json', 'Content-Length': String(LIST.length), 'Cache-Control': 'no-cache, private' }

let requests = 0
let forged = 0
const watchers = new Set<ServerResponse>()

const tls = { cert: readFileSync(certFile), key: readFileSync(keyFile) }
const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
  requests++
  const user = req.headers['impersonate-user']
  // Forged tokens carry users under forged.example; a forwarded one is a security failure, not noise.
  if (typeof user === 'string' && user.endsWith('@forged.example')) forged++
  const url = req.url ?? ''
  if (url.includes('watch=1')) {
    // HTTP/2 frames the body itself (Transfer-Encoding is a connection header there) and sends headers at once.
    if (req.httpVersionMajor === 2) res.writeHead(200, { 'Content-Type': 'application/json' })
    else {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' })
      res.flushHeaders()
    }
    watchers.add(res)
    res.on('close', () => watchers.delete(res))
    return
  }
  res.writeHead(200, LIST_HEADERS)
  res.end(LIST)
}
const server = H2
  ? createSecureServer({ ...tls, allowHTTP1: true, settings: { maxConcurrentStreams: 100 } }, onRequest as never)
  : createServer({ ...tls, keepAliveTimeout: 120_000 }, onRequest)
let connections = 0
server.on('secureConnection', () => { connections++ })
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port, listBytes: LIST.length })
})

process.on('message', (m: { type: string, id?: number }) => {
  switch (m.type) {
    case 'stats':
      process.send?.({ type: 'stats', id: m.id, requests, forged, watchers: watchers.size, connections })
      break
    case 'push': {
      // One event per open watch; the send time is on the monotonic clock shared by every process.
      const line = Buffer.from(JSON.stringify({ type: 'MODIFIED', object: { kind: 'Pod', metadata: { name: 'web-1', resourceVersion: String(requests) } }, t: process.hrtime.bigint().toString() }) + '\n')
      for (const w of watchers) w.write(line)
      process.send?.({ type: 'pushed', id: m.id, n: watchers.size })
      break
    }
    case 'close-watches':
      for (const w of watchers) w.end()
      process.send?.({ type: 'closed', id: m.id })
      break
  }
})
process.on('disconnect', () => process.exit(0))

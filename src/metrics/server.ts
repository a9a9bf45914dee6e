// The metrics and probe listener: `/metrics` for Prometheus and the probes, on their own port.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Logger } from 'pino'
import type { Registry } from 'prom-client'
import type { LocalHandler } from '../server/stages.js'

export interface MetricsServerOptions {
  readonly host: string
  readonly port: number
  /** A prom-client Registry, or anything that renders an exposition (the primary's merge of its workers'). */
  readonly registry: Pick<Registry, 'metrics' | 'contentType'>
  /** `/livez`, `/readyz`, `/healthz`: the same handlers as on the proxy listener. */
  readonly probes: ReadonlyMap<string, LocalHandler>
  readonly logger?: Logger
}

export interface MetricsServer {
  readonly url: string
  readonly port: number
  readonly server: Server
  close: () => Promise<void>
}

/**
 * The operator's listener: Prometheus exposition and probes, plain HTTP, no authentication, by default on
 * loopback. It carries no token and no user data (labels come from closed lists), and it stays up during a
 * shutdown so `/readyz` can be seen failing until the process exits.
 */
export async function startMetricsServer (options: MetricsServerOptions): Promise<MetricsServer> {
  const { registry, probes } = options
  const server = createServer({ requireHostHeader: false, headersTimeout: 10_000, requestTimeout: 30_000 }, (req, res) => {
    const url = req.url ?? '/'
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n')
      return
    }
    const probe = probes.get(path)
    if (probe !== undefined) {
      probe(req, res)
      return
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    registry.metrics().then((text) => {
      res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text) })
      res.end(req.method === 'HEAD' ? undefined : text)
    }, (err: unknown) => {
      options.logger?.error({ err: (err as Error).message }, 'metrics collection failed')
      res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics collection failed\n')
    })
  })
  server.keepAliveTimeout = 65_000
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  return {
    url: `http://${host}:${addr.port}`,
    port: addr.port,
    server,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    }),
  }
}

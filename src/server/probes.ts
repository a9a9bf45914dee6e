import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LocalHandler } from './handler.js'

export interface ReadinessCheck {
  readonly name: string
  /** undefined when ready; otherwise a short reason (shown in `/readyz?verbose`, never a secret). */
  readonly check: () => string | undefined
}

function reply (res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/**
 * `/livez`, `/healthz` (process alive and serving) and `/readyz` (every check passes right now; not a
 * latch: a check that starts failing makes it fail again). `?verbose` lists the checks as the apiserver's
 * probes do.
 */
export function createProbeRoutes (checks: () => readonly ReadinessCheck[]): Map<string, LocalHandler> {
  const live: LocalHandler = (req, res) => {
    const verbose = (req.url ?? '').includes('verbose')
    reply(res, 200, verbose ? '[+]ping ok\nlivez check passed\n' : 'ok')
  }
  const ready: LocalHandler = (req: IncomingMessage, res: ServerResponse) => {
    const verbose = (req.url ?? '').includes('verbose')
    let failed = false
    let text = ''
    for (const c of checks()) {
      const reason = c.check()
      if (reason === undefined) text += `[+]${c.name} ok\n`
      else {
        failed = true
        text += `[-]${c.name} failed: ${reason}\n`
      }
    }
    if (failed) reply(res, 503, text + 'readyz check failed\n')
    else reply(res, 200, verbose ? text + 'readyz check passed\n' : 'ok')
  }
  return new Map([['/livez', live], ['/healthz', live], ['/readyz', ready]])
}

// Probe routes: `/livez`, `/healthz` and `/readyz` (with `?verbose`), from the readiness checks.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { LocalHandler } from './stages.js'

export interface ReadinessCheck {
  readonly name: string
  /** undefined when ready; otherwise a short reason (shown in `/readyz?verbose`, never a secret). */
  readonly check: () => string | undefined
  /**
   * Working but impaired (e.g. Redis unreachable, last-known state in use): a reason, shown as `[!]` in
   * `/readyz?verbose` and in the `X-Kubegate-Degraded` header, without failing readiness. Failing it would take
   * every replica out of the Service at once when a shared dependency blips, turning an impairment into an outage.
   */
  readonly degraded?: () => string | undefined
}

function reply (res: ServerResponse, code: number, body: string, degraded?: string): void {
  const headers: Record<string, string | number> = { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(body) }
  if (degraded !== undefined) headers['x-kubegate-degraded'] = degraded
  res.writeHead(code, headers)
  res.end(body)
}

/** What `/readyz` would answer now: failing or not, the verbose lines, and the names of the degraded checks. */
export interface ReadinessReport {
  readonly ready: boolean
  /** One line per check, `[+]`, `[!]` or `[-]`, each ending in a newline. */
  readonly text: string
  readonly degraded: readonly string[]
}

/** Runs every check once. */
export function readinessReport (checks: readonly ReadinessCheck[]): ReadinessReport {
  let ready = true
  let text = ''
  const degraded: string[] = []
  for (const c of checks) {
    const reason = c.check()
    const impaired = c.degraded?.()
    if (impaired !== undefined) degraded.push(c.name)
    if (reason !== undefined) {
      ready = false
      text += `[-]${c.name} failed: ${reason}${impaired === undefined ? '' : ` (${impaired})`}\n`
    } else if (impaired !== undefined) text += `[!]${c.name} degraded: ${impaired}\n`
    else text += `[+]${c.name} ok\n`
  }
  return { ready, text, degraded }
}

/** Answers `/readyz` from a report (the checks of this process, or every worker's merged by the primary). */
export function replyReadiness (req: IncomingMessage, res: ServerResponse, r: ReadinessReport): void {
  const verbose = (req.url ?? '').includes('verbose')
  const d = r.degraded.length > 0 ? r.degraded.join(',') : undefined
  if (!r.ready) reply(res, 503, r.text + 'readyz check failed\n', d)
  else reply(res, 200, verbose ? r.text + (d === undefined ? 'readyz check passed\n' : 'readyz check passed (degraded)\n') : 'ok', d)
}

/** `/livez` and `/healthz`: the process is alive and serving. */
export const liveness: LocalHandler = (req, res) => {
  const verbose = (req.url ?? '').includes('verbose')
  reply(res, 200, verbose ? '[+]ping ok\nlivez check passed\n' : 'ok')
}

/**
 * `/livez`, `/healthz` (process alive and serving) and `/readyz` (every check passes right now; not a
 * latch: a check that starts failing makes it fail again). `?verbose` lists the checks as the apiserver's
 * probes do.
 */
export function createProbeRoutes (checks: () => readonly ReadinessCheck[]): Map<string, LocalHandler> {
  const ready: LocalHandler = (req, res) => replyReadiness(req, res, readinessReport(checks()))
  return new Map([['/livez', liveness], ['/healthz', liveness], ['/readyz', ready]])
}

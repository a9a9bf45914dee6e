// Applies a new configuration to a running kubegate: builds every changed component with start's builders, then swaps them in.
import type { Logger } from 'pino'
import { authenticationFingerprint, buildAuthentication, type Authentication } from './auth/build.js'
import type { TokenReviewer } from './auth/token-review.js'
import { loadAuthentication } from './authn/from-config.js'
import type { Config } from './config/load.js'
import { buildAudit, type AuditLog } from './log/audit.js'
import type { KubegateMetrics } from './metrics/metrics.js'
import { readTls, type Listener, type TlsMaterial } from './server/listener.js'
import type { Swappable } from './swappable.js'
import { buildTokenSource, buildUpstream, tokenSourceChanged, upstreamFingerprint, type Upstream } from './upstream/build.js'
import type { UpstreamHealth } from './upstream/health.js'
import { resolveUpstream } from './upstream/target.js'
import type { TokenSource } from './upstream/token-source.js'

/** A reload that was refused; the running configuration stays. */
export class ReloadError extends Error {
  override readonly name = 'ReloadError'
}

/** Settings read once at start; a change needs a restart (reload says so). */
const RESTART_KEYS = ['listen', 'metrics', 'server', 'shutdown', 'reload', 'impersonation', 'tokenPassthrough'] as const

/** The running components a reload may replace, and what building new ones needs. */
export interface ReloadTarget {
  readonly listener: Listener
  readonly upstream: Swappable<Upstream>
  readonly token: Swappable<TokenSource>
  readonly authentication: Swappable<Authentication>
  readonly audit: Swappable<AuditLog | undefined>
  readonly health: UpstreamHealth
  readonly logger: Logger
  readonly metrics: KubegateMetrics
  readonly env: Readonly<Record<string, string | undefined>>
  readonly now?: (() => number) | undefined
  /** True once kubegate is closing: reloads are refused. */
  readonly closing: () => boolean
  /** Token passthrough's reviewer, kept across reloads (built once at start). */
  readonly passthrough?: TokenReviewer | undefined
}

/** Components built from the new configuration, not serving yet. */
interface Candidates {
  tls: TlsMaterial | undefined
  tlsChanged: boolean
  upstream?: Upstream | undefined
  token?: TokenSource | undefined
  authentication?: Authentication | undefined
}

/**
 * Reloads one at a time. Each reload builds and checks everything first and swaps only if all of it is
 * usable; otherwise it rejects with a ReloadError and nothing changed. New requests use the new components,
 * requests already running finish on the ones they started with.
 */
export class ConfigReload {
  readonly #t: ReloadTarget
  #current: Config
  #running: Promise<string[]> | undefined

  constructor (target: ReloadTarget, initial: Config) {
    this.#t = target
    this.#current = initial
  }

  /** Applies `next`; resolves with the parts that changed. */
  async reload (next: Config): Promise<string[]> {
    // One at a time: a second trigger waits for the first and then compares against its result.
    while (this.#running !== undefined) await this.#running.catch(() => undefined)
    const p = this.#apply(next)
    this.#running = p
    try {
      return await p
    } finally {
      this.#running = undefined
    }
  }

  async #apply (next: Config): Promise<string[]> {
    if (this.#t.closing()) throw new ReloadError('shutting down')
    const candidates = await this.#build(next)
    const changed = await this.#commit(next, candidates)
    this.#warnRestartOnly(next)
    this.#current = next
    return changed
  }

  /** 1. Build and check everything; nothing serving is touched yet. */
  async #build (next: Config): Promise<Candidates> {
    const t = this.#t
    const c: Candidates = { ...this.#buildTls(next) }
    try {
      const target = resolveUpstream(next.upstream, t.env)
      const up = t.upstream.current
      if (upstreamFingerprint(next, target) !== up.fingerprint) c.upstream = buildUpstream(next, target)
      if (tokenSourceChanged(next, target, this.#current, up.target)) c.token = buildTokenSource(next, target, t.logger)
      // A bad AuthenticationConfiguration throws here (loadConfig has normally refused it already).
      const loaded = loadAuthentication(next)
      if (authenticationFingerprint(next, loaded) !== t.authentication.current.fingerprint) {
        c.authentication = buildAuthentication(next, { logger: t.logger, onJwksFetch: t.metrics.onJwksFetch, now: t.now, passthrough: t.passthrough }, loaded)
        await checkUsable(c.authentication)
      }
      return c
    } catch (err) {
      await c.upstream?.forwarder.destroy()
      c.token?.close()
      await c.authentication?.issuers.close()
      throw err instanceof ReloadError ? err : new ReloadError((err as Error).message)
    }
  }

  #buildTls (next: Config): Pick<Candidates, 'tls' | 'tlsChanged'> {
    let tls: TlsMaterial | undefined
    try {
      tls = readTls(next)
    } catch (err) {
      throw new ReloadError(`serving certificate/key: ${(err as Error).message}`)
    }
    const serving = this.#t.listener.tls
    if ((tls === undefined) !== (serving === undefined)) throw new ReloadError('switching between HTTP and HTTPS needs a restart')
    const tlsChanged = tls !== undefined && serving !== undefined && (!tls.cert.equals(serving.cert) || !tls.key.equals(serving.key))
    return { tls, tlsChanged }
  }

  /**
   * 2. Commit: nothing below can fail halfway. The one await (re-reading an unchanged token file) never
   * throws: a failed read keeps the current token.
   */
  async #commit (next: Config, c: Candidates): Promise<string[]> {
    const t = this.#t
    const changed: string[] = []
    if (c.tlsChanged && c.tls !== undefined) {
      t.listener.setTls(c.tls)
      changed.push('tls')
    }
    if (c.upstream !== undefined) {
      // The old pool finishes what it carries (watches included) and then closes.
      t.upstream.swap(c.upstream).forwarder.close().catch(() => undefined)
      changed.push('upstream')
      void t.health.checkNow()
    }
    if (c.token !== undefined) {
      t.token.swap(c.token).close()
      changed.push('upstream.token')
    } else if (await t.token.current.reload()) {
      changed.push('upstream.token')
    }
    if (c.authentication !== undefined) {
      // Verdicts of the old settings are not carried over: a changed claim mapping must apply at once.
      t.authentication.swap(c.authentication).issuers.close().catch(() => undefined)
      changed.push('oidc')
    }
    if (next.log.level !== this.#current.log.level) {
      t.logger.level = next.log.level
      changed.push('log.level')
    }
    if (this.#swapAudit(next)) changed.push('audit')
    return changed
  }

  /** A new audit file or buffer size opens a new log; the same file name is reopened (a rotated file is let go). */
  #swapAudit (next: Config): boolean {
    const cur = this.#current.audit
    const t = this.#t
    if (next.audit.file === cur.file && next.audit.maxBufferedEvents === cur.maxBufferedEvents) {
      t.audit.current?.reopen()
      return false
    }
    void t.audit.swap(buildAudit(next.audit, t.logger, t.metrics.onAuditDropped))?.close()
    return true
  }

  #warnRestartOnly (next: Config): void {
    for (const k of RESTART_KEYS) {
      if (JSON.stringify(next[k]) !== JSON.stringify(this.#current[k])) this.#t.logger.warn({ section: k }, 'configuration change needs a restart to apply')
    }
  }
}

/** An issuer the new settings cannot reach would turn every request into a 401/503: refuse it. */
async function checkUsable (a: Authentication): Promise<void> {
  // Every issuer of the new settings must be reachable: a typo in one URL must not take its users offline.
  await a.issuers.start()
  for (const [url, issuer] of a.issuers.router.entries()) {
    if (issuer.verifier.isReady()) continue
    const s = issuer.verifier.status()
    throw new ReloadError(`new OIDC settings not usable: ${url}: ${s.lastError ?? (!s.discovered ? 'discovery failed' : 'key set not loaded')}`)
  }
}

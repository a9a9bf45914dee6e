// Builds the upstream (forwarder, tunneler), kubegate's token source and the apiserver health probe from config.
import type { Logger } from 'pino'
import type { Config } from '../config/load.js'
import type { ReadinessCheck } from '../server/probes.js'
import type { Current } from '../swappable.js'
import { createForwarder, type Forwarder } from './forwarder.js'
import { createUpstreamHealth, type UpstreamHealth } from './health.js'
import type { UpstreamTarget } from './target.js'
import { createTokenSource, type TokenSource } from './token-source.js'
import { createTunneler, type Tunneler } from './tunnel.js'

/** The connections to one apiserver: pooled HTTP forwarding and upgrade tunnels. */
export interface Upstream {
  readonly target: UpstreamTarget
  readonly forwarder: Forwarder
  readonly tunneler: Tunneler
  /** What it was built from; equal fingerprints mean a reload leaves it alone. */
  readonly fingerprint: string
}

export function upstreamFingerprint (config: Config, target: UpstreamTarget): string {
  return JSON.stringify([target.origin, target.ca, target.servername, config.upstream.maxConnections,
    config.upstream.timeoutSeconds, config.server.upgradeIdleTimeoutSeconds])
}

export function buildUpstream (config: Config, target: UpstreamTarget): Upstream {
  const forwarder = createForwarder({
    target,
    connections: config.upstream.maxConnections,
    headersTimeoutMs: config.upstream.timeoutSeconds * 1000,
  })
  const tunneler = createTunneler({
    target,
    responseTimeoutMs: config.upstream.timeoutSeconds * 1000,
    idleTimeoutMs: config.server.upgradeIdleTimeoutSeconds * 1000,
  })
  return { target, forwarder, tunneler, fingerprint: upstreamFingerprint(config, target) }
}

/** kubegate's own service-account token, re-read on rotation. */
export function buildTokenSource (config: Config, target: UpstreamTarget, logger: Logger): TokenSource {
  return createTokenSource({
    file: target.tokenFile,
    staticToken: target.staticToken,
    refreshMs: config.upstream.tokenRefreshSeconds * 1000,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'service-account token re-read failed; keeping the previous one'),
    onChange: () => logger.info('service-account token reloaded'),
  })
}

/** Whether the token source must be rebuilt (another file or static token, another refresh period). */
export function tokenSourceChanged (next: Config, nextTarget: UpstreamTarget, current: Config, currentTarget: UpstreamTarget): boolean {
  return nextTarget.tokenFile !== currentTarget.tokenFile || nextTarget.staticToken !== currentTarget.staticToken ||
    next.upstream.tokenRefreshSeconds !== current.upstream.tokenRefreshSeconds
}

/** Periodic `/readyz` of the apiserver through the serving upstream, with kubegate's serving token. */
export function buildUpstreamHealth (config: Config, upstream: Current<Upstream>, token: Current<TokenSource>, logger: Logger): UpstreamHealth {
  return createUpstreamHealth({
    probe: () => upstream.current.forwarder.probe('/readyz', token.current.header, 5000),
    intervalMs: config.upstream.healthCheckSeconds * 1000,
    onChange: (ok, reason) => {
      if (ok) logger.info('apiserver reachable')
      else logger.warn({ reason }, 'apiserver health check failed')
    },
  })
}

/** The `upstream` readiness check. */
export function upstreamReadiness (health: UpstreamHealth): ReadinessCheck {
  return { name: 'upstream', check: () => health.up() === true ? undefined : health.reason() ?? 'apiserver unreachable' }
}

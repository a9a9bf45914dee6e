// The upgrade path's upstream side: builds a Tunneler that runs each upgrade as its own UpgradeTunnel.
import type { TunnelOptions, TunnelRequest, TunnelResult, TunnelSettings, Tunneler } from './tunnel-types.js'
import { UpgradeTunnel } from './upgrade-tunnel.js'
import { hostHeaderFor } from './upstream-request.js'

export type { TunnelOptions, TunnelRequest, TunnelResult, Tunneler } from './tunnel-types.js'

/** TunnelOptions with their defaults: keep-alive probes every 30 s, refusal bodies up to 1 MiB. */
export function tunnelSettings (options: TunnelOptions): TunnelSettings {
  return {
    target: options.target,
    hostHeader: hostHeaderFor(options.target),
    responseTimeoutMs: options.responseTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs,
    keepAliveMs: options.keepAliveMs ?? 30_000,
    maxRelayedBodyBytes: options.maxRelayedBodyBytes ?? 1024 * 1024,
  }
}

/**
 * Built on node:http's client for one reason: the apiserver's answer is parsed by Node's strict HTTP parser
 * (llhttp), which tells a real upgrade (101 + `Connection: upgrade`) from everything else and frames refusal
 * bodies (Content-Length, chunked, until-close) correctly. The connection is a dedicated `tls.connect` socket
 * handed over through `createConnection` — no Agent, so it is never pooled and never reused. See
 * docs/design.md, "Upgrades", for why not http-proxy. The phases live in UpgradeTunnel (upgrade-tunnel.ts).
 */
export function createTunneler (options: TunnelOptions): Tunneler {
  const settings = tunnelSettings(options)
  return {
    tunnel (tr: TunnelRequest, done: (r: TunnelResult) => void): () => void {
      const t = new UpgradeTunnel(tr, settings, done)
      t.start()
      return () => t.abort()
    },
  }
}

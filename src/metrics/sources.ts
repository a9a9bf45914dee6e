// Binds the scrape-time metrics (token cache, JWKS, in-flight, sessions, readiness, store) to the serving components.
import type { Authentication } from '../auth/build.js'
import type { ReadinessCheck } from '../server/probes.js'
import type { SessionRegistry } from '../server/sessions.js'
import type { SharedState } from '../shared-state/shared-state.js'
import type { Current } from '../swappable.js'
import type { UpstreamHealth } from '../upstream/health.js'
import type { KubegateMetrics, StoreState } from './metrics.js'

export interface MetricsBinding {
  readonly authentication: Current<Authentication>
  readonly inflight: () => number
  readonly sessions: SessionRegistry
  readonly tarpit?: { readonly held: number } | undefined
  readonly checks: readonly ReadinessCheck[]
  readonly health: UpstreamHealth
  readonly sharedState: SharedState
  /** Overrides the store state derived from the shared state (StartOptions.storeState). */
  readonly storeState?: (() => StoreState) | undefined
}

/** The store as `kubegate_store_state` reports it. */
export function storeStateOf (sharedState: SharedState): StoreState {
  const st = sharedState.status()
  if (st.store.state === 'up') return 'connected'
  // Down but serving from the last confirmed list: degraded; beyond the staleness bound it fails closed.
  return st.revocations.stale ? 'disconnected' : 'degraded'
}

/** Attaches the collectors; each reads the serving component at scrape time (a reload may have swapped it). */
export function bindMetrics (metrics: KubegateMetrics, b: MetricsBinding): void {
  metrics.bind({
    tokenCache: () => b.authentication.current.authenticator,
    jwks: () => b.authentication.current.verifier.status(),
    inflight: b.inflight,
    sessions: (kind) => b.sessions.count(kind),
    tarpitted: () => b.tarpit?.held ?? 0,
    checks: () => b.checks.map((c) => [c.name, c.check() === undefined] as const),
    upstreamUp: () => b.health.up(),
    storeState: b.storeState ?? (() => storeStateOf(b.sharedState)),
  })
}

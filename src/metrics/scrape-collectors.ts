// Metrics read at scrape time from the components that hold the figures (cache, JWKS, sessions, readiness, store).
import { Counter, Gauge, type Aggregator, type Registry } from 'prom-client'

/** What a store reports about itself (revocation lists, rate limits); see docs/operations.md. */
export type StoreState = 'connected' | 'degraded' | 'disconnected'
const STORE_STATES: readonly StoreState[] = ['connected', 'degraded', 'disconnected']

interface TokenCacheStats { hits: number, misses: number, negativeHits: number }

/**
 * Live views the collectors read at scrape time. Getters, not objects: the authenticator and verifier are
 * replaced on reload, and a scrape must read the ones serving now.
 */
export interface MetricsSources {
  readonly tokenCache: () => { readonly size: number, readonly stats: TokenCacheStats }
  readonly jwks: () => { discovered: boolean, jwksLoaded: boolean, jwksLastSuccess: number, jwksKeys: number }
  readonly inflight: () => number
  readonly sessions: (kind: 'stream' | 'upgrade') => number
  /** Answers to addresses over their failed-authentication budget held by the tarpit now (0 without one). */
  readonly tarpitted?: (() => number) | undefined
  /** Each readiness check's verdict right now (name -> passing). */
  readonly checks: () => ReadonlyArray<readonly [string, boolean]>
  readonly upstreamUp: () => boolean | undefined
  readonly storeState?: (() => StoreState) | undefined
}

/**
 * Registers every scrape-time collector, one group per source. A new figure that a component already holds
 * is one more line in its group (or a new group, with its getter on {@link MetricsSources}).
 */
export function registerScrapeCollectors (registry: Registry, src: MetricsSources): void {
  registerTokenCacheCollectors(registry, src.tokenCache)
  registerJwksCollectors(registry, src.jwks)
  registerLoadCollectors(registry, src)
  registerReadinessCollectors(registry, src)
  if (src.storeState !== undefined) registerStoreStateCollector(registry, src.storeState)
}

function registerTokenCacheCollectors (registry: Registry, tokenCache: MetricsSources['tokenCache']): void {
  const stats = (): TokenCacheStats => tokenCache().stats
  mirroredCounter(registry, 'kubegate_token_cache_hits_total', 'Tokens found in the verified-token cache.', stats, 'hits')
  mirroredCounter(registry, 'kubegate_token_cache_misses_total', 'Tokens that had to be verified.', stats, 'misses')
  mirroredCounter(registry, 'kubegate_token_cache_negative_hits_total', 'Rejected tokens answered from the negative cache.', stats, 'negativeHits')
  scrapeGauge(registry, 'kubegate_token_cache_entries', 'Verified tokens held in the cache.', () => tokenCache().size)
}

function registerJwksCollectors (registry: Registry, jwks: MetricsSources['jwks']): void {
  // Across workers (server.workers > 1) the worst one: the oldest fetch, the fewest keys, discovery not done.
  scrapeGauge(registry, 'kubegate_jwks_last_success_timestamp_seconds', 'When the issuer\'s key set was last fetched successfully (0: never).',
    () => jwks().jwksLastSuccess / 1000, 'min')
  scrapeGauge(registry, 'kubegate_jwks_keys', 'Usable keys in the current key set.', () => jwks().jwksKeys, 'min')
  scrapeGauge(registry, 'kubegate_oidc_discovery_done', '1 once OIDC discovery succeeded.', () => (jwks().discovered ? 1 : 0), 'min')
}

/** What is being served right now: requests, long-running streams, upgraded sessions. */
function registerLoadCollectors (registry: Registry, src: Pick<MetricsSources, 'inflight' | 'sessions' | 'tarpitted'>): void {
  scrapeGauge(registry, 'kubegate_inflight_requests', 'Requests being served now (watches and logs -f included, upgrades not).', () => src.inflight())
  scrapeGauge(registry, 'kubegate_open_watches', 'Open long-running HTTP streams (watch, logs -f).', () => src.sessions('stream'))
  scrapeGauge(registry, 'kubegate_upgraded_connections', 'Open exec/attach/port-forward sessions.', () => src.sessions('upgrade'))
  const tarpitted = src.tarpitted
  scrapeGauge(registry, 'kubegate_failed_auth_tarpitted', 'Answers to client addresses over their failed-authentication budget held by the tarpit now.', () => tarpitted?.() ?? 0)
}

function registerReadinessCollectors (registry: Registry, src: Pick<MetricsSources, 'checks' | 'upstreamUp'>): void {
  const registers = [registry]
  // Across workers (server.workers > 1): 1 only when every worker passes ('min').
  scrapeGauge(registry, 'kubegate_ready', '1 when /readyz passes.', () => (src.checks().every(([, ok]) => ok) ? 1 : 0), 'min')
  new Gauge({ name: 'kubegate_readiness_check', help: 'Each readiness check: 1 passing, 0 failing.', labelNames: ['check'], registers, aggregator: 'min',
    collect () {
      this.reset()
      for (const [name, ok] of src.checks()) this.set({ check: name }, ok ? 1 : 0)
    } })
  new Gauge({ name: 'kubegate_upstream_up', help: 'Last apiserver health check: 1 answered, 0 failed (absent before the first).', registers, aggregator: 'min',
    collect () {
      const up = src.upstreamUp()
      // remove(), not reset(): prom-client's reset() puts an unlabelled gauge back at 0, which reads "down".
      if (up === undefined) this.remove()
      else this.set(up ? 1 : 0)
    } })
}

function registerStoreStateCollector (registry: Registry, storeState: () => StoreState): void {
  // Across workers: 1 on every state some worker is in ('max'); one worker cut off from the store shows.
  new Gauge({ name: 'kubegate_store_state', help: 'The store\'s state: 1 on the current one.', labelNames: ['state'], registers: [registry], aggregator: 'max',
    collect () {
      const s = storeState()
      for (const st of STORE_STATES) this.set({ state: st }, st === s ? 1 : 0)
    } })
}

/** An unlabelled gauge set from `read()` at each scrape; `aggregator`: how the workers' values merge (default sum). */
function scrapeGauge (registry: Registry, name: string, help: string, read: () => number, aggregator: Aggregator = 'sum'): void {
  new Gauge({ name, help, registers: [registry], aggregator, collect () { this.set(read()) } })
}

/**
 * A counter mirrored from a plain-number field of a stats object: each scrape adds the delta since the last.
 * A reload replaces the authenticator (a fresh stats object); the new one is then counted from zero, so the
 * counter never goes down.
 */
function mirroredCounter (registry: Registry, name: string, help: string, stats: () => TokenCacheStats, field: keyof TokenCacheStats): void {
  let seen: object | undefined
  let last = 0
  new Counter({
    name,
    help,
    registers: [registry],
    collect () {
      const current = stats()
      if (current !== seen) {
        seen = current
        last = 0
      }
      const v = current[field]
      if (v > last) this.inc(v - last)
      last = v
    },
  })
}

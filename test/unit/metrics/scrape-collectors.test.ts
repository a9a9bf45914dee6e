// Unit tests of the scrape-time collectors: what each reads, and series that appear or go away with their source.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { registerScrapeCollectors, type MetricsSources } from '../../../src/metrics/scrape-collectors.js'
import { parseExposition } from '../../helpers/prom-text.js'

function sources (over: Partial<MetricsSources> = {}): MetricsSources {
  return {
    tokenCache: () => ({ size: 0, stats: { hits: 0, misses: 0, negativeHits: 0 } }),
    jwks: () => ({ discovered: false, jwksLoaded: false, jwksLastSuccess: 0, jwksKeys: 0 }),
    inflight: () => 0,
    sessions: () => 0,
    checks: () => [],
    upstreamUp: () => undefined,
    ...over,
  }
}

test('without a store there is no store_state family', async () => {
  const registry = new Registry()
  registerScrapeCollectors(registry, sources())
  const e = parseExposition(await registry.metrics())
  assert.equal(e.find('kubegate_store_state').length, 0)
  assert.equal(e.value('kubegate_oidc_discovery_done'), 0)
})

test('the upstream gauge is absent until the first health check, not 0 (which would read as "down")', async () => {
  const registry = new Registry()
  let up: boolean | undefined
  registerScrapeCollectors(registry, sources({ upstreamUp: () => up }))
  let e = parseExposition(await registry.metrics())
  assert.equal(e.types.get('kubegate_upstream_up'), 'gauge')
  assert.equal(e.find('kubegate_upstream_up').length, 0)
  up = false
  e = parseExposition(await registry.metrics())
  assert.deepEqual(e.find('kubegate_upstream_up').map((s) => s.value), [0])
  up = true
  e = parseExposition(await registry.metrics())
  assert.deepEqual(e.find('kubegate_upstream_up').map((s) => s.value), [1])
})

test('the store state is one-hot over every state, and follows the store', async () => {
  const registry = new Registry()
  let state: 'connected' | 'degraded' | 'disconnected' = 'connected'
  registerScrapeCollectors(registry, sources({ storeState: () => state }))
  let e = parseExposition(await registry.metrics())
  assert.deepEqual(e.find('kubegate_store_state').map((s) => [s.labels.state, s.value]), [['connected', 1], ['degraded', 0], ['disconnected', 0]])
  state = 'disconnected'
  e = parseExposition(await registry.metrics())
  assert.deepEqual(e.find('kubegate_store_state').map((s) => [s.labels.state, s.value]), [['connected', 0], ['degraded', 0], ['disconnected', 1]])
})

test('readiness: one series per current check, a check that is gone is gone from the scrape too', async () => {
  const registry = new Registry()
  let checks: Array<readonly [string, boolean]> = [['oidc', true], ['store', true]]
  registerScrapeCollectors(registry, sources({ checks: () => checks }))
  let e = parseExposition(await registry.metrics())
  assert.equal(e.value('kubegate_ready'), 1)
  assert.equal(e.find('kubegate_readiness_check').length, 2)
  checks = [['oidc', false]]
  e = parseExposition(await registry.metrics())
  assert.equal(e.value('kubegate_ready'), 0)
  assert.deepEqual(e.find('kubegate_readiness_check').map((s) => [s.labels.check, s.value]), [['oidc', 0]])
})

test('load gauges read the current figures at each scrape', async () => {
  const registry = new Registry()
  let inflight = 2
  registerScrapeCollectors(registry, sources({ inflight: () => inflight, sessions: (kind) => (kind === 'stream' ? 5 : 7) }))
  let e = parseExposition(await registry.metrics())
  assert.deepEqual([e.value('kubegate_inflight_requests'), e.value('kubegate_open_watches'), e.value('kubegate_upgraded_connections')], [2, 5, 7])
  inflight = 0
  e = parseExposition(await registry.metrics())
  assert.equal(e.value('kubegate_inflight_requests'), 0)
})

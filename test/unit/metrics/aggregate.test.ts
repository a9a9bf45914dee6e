// The workers' metrics merged into one exposition: counters and histograms summed, gauges by their aggregator, process metrics per worker.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { mergeProcessMetrics } from '../../../src/metrics/aggregate.js'
import { createMetrics, type StoreState } from '../../../src/metrics/metrics.js'
import { accessRecord } from '../../helpers/access-record.js'
import { parseExposition } from '../../helpers/prom-text.js'

const rec = accessRecord

function worker (o: { requests: number, inflight: number, ready: boolean, keys: number, store: StoreState }): ReturnType<typeof createMetrics> {
  const m = createMetrics({ version: '1.2.3' })
  m.bind({
    tokenCache: () => ({ size: 1, stats: { hits: 0, misses: 0, negativeHits: 0 } }),
    jwks: () => ({ discovered: true, jwksLoaded: true, jwksLastSuccess: 1_700_000_000_000, jwksKeys: o.keys }),
    inflight: () => o.inflight,
    sessions: () => 0,
    checks: () => [['oidc', true], ['shared-state', o.ready]],
    upstreamUp: () => true,
    storeState: () => o.store,
  })
  for (let i = 0; i < o.requests; i++) m.onAccess(rec())
  return m
}

test('one exposition: counters and histograms summed, gauges by their own aggregator, process metrics per worker', async () => {
  const a = worker({ requests: 3, inflight: 2, ready: true, keys: 2, store: 'connected' })
  const b = worker({ requests: 4, inflight: 5, ready: false, keys: 1, store: 'degraded' })
  const merged = mergeProcessMetrics([
    { worker: '0', metrics: await a.registry.getMetricsAsJSON() },
    { worker: '1', metrics: await b.registry.getMetricsAsJSON() },
  ])
  const m = parseExposition(await merged.metrics())
  const series = { code: '200', verb: 'list', resource: 'pods', subresource: '' }
  assert.equal(m.value('kubegate_requests_total', series), 7)
  assert.equal(m.value('kubegate_request_duration_seconds_count', { verb: 'list' }), 7)
  assert.equal(m.value('kubegate_request_duration_seconds_bucket', { verb: 'list', le: '0.005' }), 7)
  assert.equal(m.value('kubegate_inflight_requests'), 7, 'load is summed')
  assert.equal(m.value('kubegate_ready'), 0, 'ready only if every worker is')
  assert.equal(m.value('kubegate_readiness_check', { check: 'shared-state' }), 0)
  assert.equal(m.value('kubegate_readiness_check', { check: 'oidc' }), 1)
  assert.equal(m.value('kubegate_jwks_keys'), 1, 'the worker with the fewest keys')
  assert.equal(m.value('kubegate_store_state', { state: 'connected' }), 1)
  assert.equal(m.value('kubegate_store_state', { state: 'degraded' }), 1, 'every state some worker is in')
  assert.equal(m.value('kubegate_store_state', { state: 'disconnected' }), 0)
  assert.equal(m.value('kubegate_build_info', { version: '1.2.3' }), 1, 'not 2')
  for (const w of ['0', '1']) {
    assert.equal(m.find('process_start_time_seconds', { worker: w }).length, 1, `worker ${w}'s start time is kept`)
    assert.equal(m.find('nodejs_heap_size_used_bytes', { worker: w }).length, 1)
  }
  assert.equal(m.find('process_resident_memory_bytes').every((s) => s.labels.worker !== undefined), true)
})

import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createMetrics } from '../../../src/metrics/metrics.js'
import { accessRecord } from '../../helpers/access-record.js'
import { parseExposition } from '../../helpers/prom-text.js'

const rec = accessRecord

function bindStatic (m: ReturnType<typeof createMetrics>, stats = { hits: 0, misses: 0, negativeHits: 0 }): { stats: typeof stats } {
  const cache = { size: 2, stats }
  m.bind({
    tokenCache: () => cache,
    jwks: () => ({ discovered: true, jwksLoaded: true, jwksLastSuccess: 1_700_000_000_000, jwksKeys: 1 }),
    inflight: () => 4,
    sessions: (k) => k === 'stream' ? 3 : 1,
    checks: () => [['oidc', true], ['upstream', false]],
    upstreamUp: () => false,
    storeState: () => 'degraded',
  })
  return cache
}

test('request counts per label; unknown resources, subresources and verbs collapse to "other"', async () => {
  const m = createMetrics({ processMetrics: false })
  bindStatic(m)
  m.onAccess(rec())
  m.onAccess(rec())
  m.onAccess(rec({ status: 403 }))
  m.onAccess(rec({ resource: 'widgets', name: 'secret-project-x', subresource: 'frobnicate', verb: 'get' }))
  m.onAccess(rec({ verb: 'FROB', resource: 'pods' }))
  m.onAccess(rec({ uri: '/api/v1/namespaces/user01/pods?watch=true', verb: 'watch', durationMs: 60_000 }))
  m.onAccess(rec({ status: 401, user: undefined, groups: undefined, upstreamMs: undefined, failure: 'expired' }))
  const text = await m.registry.metrics()
  const e = parseExposition(text)
  assert.equal(e.value('kubegate_requests_total', { code: '200', verb: 'list', resource: 'pods', subresource: '' }), 2)
  assert.equal(e.value('kubegate_requests_total', { code: '403', verb: 'list', resource: 'pods' }), 1)
  assert.equal(e.value('kubegate_requests_total', { code: '200', verb: 'get', resource: 'other', subresource: 'other' }), 1)
  assert.equal(e.value('kubegate_requests_total', { verb: 'other' }), 1)
  assert.equal(e.value('kubegate_requests_total', { code: '401' }), 1)
  // The watch is counted but kept out of the latency histogram; upstream time covers every forwarded request.
  assert.equal(e.value('kubegate_request_duration_seconds_count', { verb: 'list' }), 4)
  assert.equal(e.value('kubegate_request_duration_seconds_count', { verb: 'watch' }), 0)
  assert.equal(e.value('kubegate_upstream_duration_seconds_count', { verb: 'watch' }), 1)
  assert.equal(e.value('kubegate_upstream_duration_seconds_bucket', { verb: 'list', le: '0.005' }), 3)
  // Successes come from records with a user; no label carries user, name, namespace or path.
  assert.equal(e.value('kubegate_authentication_total', { result: 'success' }), 6)
  for (const forbidden of ['user01', 'secret-project-x', 'widgets', 'frobnicate', 'FROB', 'students']) {
    assert.ok(!text.includes(forbidden), `${forbidden} leaked into the exposition`)
  }
})

test('authentication failures by reason, bounded', async () => {
  const m = createMetrics({ processMetrics: false })
  bindStatic(m)
  for (const r of ['expired', 'expired', 'bad_signature', 'unknown_kid', 'bad_claims', 'identity_headers', 'revoked', 'rate_limited', 'something-new']) m.onAuthFailure(r)
  const e = parseExposition(await m.registry.metrics())
  assert.equal(e.value('kubegate_authentication_total', { result: 'expired' }), 2)
  for (const r of ['bad_signature', 'unknown_kid', 'bad_claims', 'identity_headers', 'revoked', 'rate_limited']) {
    assert.equal(e.value('kubegate_authentication_total', { result: r }), 1, r)
  }
  assert.equal(e.value('kubegate_authentication_total', { result: 'other' }), 1)
  assert.equal(e.find('kubegate_authentication_total', { result: 'something-new' }).length, 0)
})

test('scrape-time collectors: cache counters stay monotonic across an authenticator swap', async () => {
  const m = createMetrics({ processMetrics: false })
  let cache = { size: 2, stats: { hits: 5, misses: 2, negativeHits: 1 } }
  m.bind({
    tokenCache: () => cache,
    jwks: () => ({ discovered: true, jwksLoaded: true, jwksLastSuccess: 1_700_000_000_000, jwksKeys: 3 }),
    inflight: () => 4,
    sessions: (k) => k === 'stream' ? 3 : 1,
    checks: () => [['oidc', true], ['upstream', false]],
    upstreamUp: () => false,
    storeState: () => 'degraded',
  })
  m.onJwksFetch(true)
  m.onJwksFetch(false)
  m.onReload(false, Date.now())
  let e = parseExposition(await m.registry.metrics())
  assert.equal(e.value('kubegate_token_cache_hits_total'), 5)
  assert.equal(e.value('kubegate_token_cache_misses_total'), 2)
  assert.equal(e.value('kubegate_token_cache_negative_hits_total'), 1)
  assert.equal(e.value('kubegate_token_cache_entries'), 2)
  assert.equal(e.value('kubegate_jwks_fetches_total', { result: 'success' }), 1)
  assert.equal(e.value('kubegate_jwks_fetches_total', { result: 'failure' }), 1)
  assert.equal(e.value('kubegate_jwks_last_success_timestamp_seconds'), 1_700_000_000)
  assert.equal(e.value('kubegate_jwks_keys'), 3)
  assert.equal(e.value('kubegate_inflight_requests'), 4)
  assert.equal(e.value('kubegate_open_watches'), 3)
  assert.equal(e.value('kubegate_upgraded_connections'), 1)
  assert.equal(e.value('kubegate_ready'), 0)
  assert.equal(e.value('kubegate_readiness_check', { check: 'upstream' }), 0)
  assert.equal(e.value('kubegate_readiness_check', { check: 'oidc' }), 1)
  assert.equal(e.value('kubegate_upstream_up'), 0)
  assert.equal(e.value('kubegate_store_state', { state: 'degraded' }), 1)
  assert.equal(e.value('kubegate_store_state', { state: 'connected' }), 0)
  assert.equal(e.value('kubegate_config_reloads_total', { result: 'failure' }), 1)
  assert.equal(e.types.get('kubegate_token_cache_hits'), undefined)
  assert.equal(e.types.get('kubegate_token_cache_hits_total') ?? e.types.get('kubegate_token_cache_hits'), 'counter')

  cache.stats.hits += 3
  e = parseExposition(await m.registry.metrics())
  assert.equal(e.value('kubegate_token_cache_hits_total'), 8)
  // A reload brings a fresh authenticator (stats from zero): the counter must not go down.
  cache = { size: 0, stats: { hits: 1, misses: 0, negativeHits: 0 } }
  e = parseExposition(await m.registry.metrics())
  assert.equal(e.value('kubegate_token_cache_hits_total'), 9)
  assert.equal(e.value('kubegate_token_cache_entries'), 0)
})

test('two instances do not share a registry (never the global one)', async () => {
  const a = createMetrics({ processMetrics: false })
  const b = createMetrics({ processMetrics: false })
  bindStatic(a)
  bindStatic(b)
  a.onAccess(rec())
  const eb = parseExposition(await b.registry.metrics())
  assert.equal(eb.value('kubegate_requests_total'), 0)
  const ea = parseExposition(await a.registry.metrics())
  assert.equal(ea.value('kubegate_requests_total'), 1)
})

test('process metrics parse too', async () => {
  const m = createMetrics()
  bindStatic(m)
  const e = parseExposition(await m.registry.metrics())
  assert.ok(e.value('process_cpu_user_seconds_total') >= 0)
  assert.ok(e.types.has('nodejs_eventloop_lag_seconds'))
})

test('the parser refuses malformed exposition', () => {
  assert.throws(() => parseExposition('x 1\n'), /without a TYPE/)
  assert.throws(() => parseExposition('# TYPE x counter\nx{a="1} 1\n'), /unterminated/)
  assert.throws(() => parseExposition('# TYPE x gauge\nx one\n'), /bad value/)
  assert.throws(() => parseExposition('# TYPE x gauge\nx 1\nx 2\n'), /twice/)
})

test('build info, successful reloads and dropped audit events', async () => {
  const m = createMetrics({ processMetrics: false, version: '9.9.9' })
  m.onReload(true, 1_750_000_000_000)
  m.onReload(false, 1_760_000_000_000)
  m.onAuditDropped(3)
  m.onAuditDropped(2)
  const e = parseExposition(await m.registry.metrics())
  assert.equal(e.value('kubegate_build_info', { version: '9.9.9', node: process.version }), 1)
  assert.equal(e.value('kubegate_config_reloads_total', { result: 'success' }), 1)
  assert.equal(e.value('kubegate_config_reloads_total', { result: 'failure' }), 1)
  // A failed reload leaves the last success where it was.
  assert.equal(e.value('kubegate_config_last_reload_success_timestamp_seconds'), 1_750_000_000)
  assert.equal(e.value('kubegate_audit_events_dropped_total'), 5)
})

test('result series exist at zero before anything happens, so rate() and alerts see them from the start', async () => {
  const m = createMetrics({ processMetrics: false })
  const e = parseExposition(await m.registry.metrics())
  for (const result of ['success', 'failure']) {
    assert.equal(e.find('kubegate_jwks_fetches_total', { result }).length, 1, `jwks ${result}`)
    assert.equal(e.find('kubegate_config_reloads_total', { result }).length, 1, `reloads ${result}`)
  }
  assert.equal(e.find('kubegate_authentication_total', { result: 'success' }).length, 1)
})

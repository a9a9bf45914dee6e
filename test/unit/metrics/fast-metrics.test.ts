// Unit tests of the request path's counters and histograms: series reuse and the exposition they produce.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Registry } from 'prom-client'
import { FastCounter, FastHistogram, registerFastMetric } from '../../../src/metrics/fast-metrics.js'
import { parseExposition } from '../../helpers/prom-text.js'

test('a counter keeps one series per key: the same object on every later call, labels from the first', () => {
  const c = new FastCounter('t_total', 'help', ['code', 'verb'])
  const first = c.series('200 get', ['200', 'get'])
  assert.equal(c.series('200 get', ['ignored', 'ignored']), first)
  first.inc()
  first.inc()
  assert.deepEqual(c.get().values, [{ labels: { code: '200', verb: 'get' }, value: 2 }])
  c.reset()
  assert.deepEqual(c.get().values, [])
})

test('a histogram counts each observation in its first bucket and exposes cumulative buckets, +Inf, sum and count', async () => {
  const registry = new Registry()
  const h = new FastHistogram('t_seconds', 'help', 'verb', [0.1, 1])
  registerFastMetric(registry, h)
  const list = h.series('list')
  assert.equal(h.series('list'), list)
  for (const v of [0.05, 0.1, 0.5, 2]) list.observe(v)
  const e = parseExposition(await registry.metrics())
  assert.equal(e.types.get('t_seconds'), 'histogram')
  assert.equal(e.value('t_seconds_bucket', { verb: 'list', le: '0.1' }), 2, 'le is inclusive')
  assert.equal(e.value('t_seconds_bucket', { verb: 'list', le: '1' }), 3)
  assert.equal(e.value('t_seconds_bucket', { verb: 'list', le: '+Inf' }), 4)
  assert.equal(e.value('t_seconds_sum', { verb: 'list' }), 2.65)
  assert.equal(e.value('t_seconds_count', { verb: 'list' }), 4)
})

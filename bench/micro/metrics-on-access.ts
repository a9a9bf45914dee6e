/**
 * What metrics add to one request: `metrics.onAccess` (request counter child, two histogram observations,
 * the success counter) plus `onAuthFailure`, against the budget of 2 µs per request.
 *   node --import tsx bench/micro/metrics-on-access.ts
 */
import { createMetrics } from '../../src/metrics/metrics.js'
import type { AccessRecord } from '../../src/server/handler.js'

const m = createMetrics({ processMetrics: false })
const records: AccessRecord[] = []
const verbs = ['list', 'get', 'create', 'watch', 'delete']
const resources = ['pods', 'services', 'deployments', 'widgets', 'configmaps']
for (let i = 0; i < 64; i++) {
  const verb = verbs[i % verbs.length] as string
  records.push({
    requestId: 'r' + i, method: 'GET', uri: `/api/v1/namespaces/user01/${resources[i % 5] as string}${verb === 'watch' ? '?watch=true' : ''}`,
    user: i % 7 === 0 ? undefined : 'user01@example.com', groups: ['students'], verb, resource: resources[i % 5] as string,
    subresource: i % 11 === 0 ? 'log' : '', namespace: 'user01', name: '', status: [200, 201, 403, 404, 401][i % 5] as number,
    bytes: 100, durationMs: (i % 13) * 1.7, upstreamMs: i % 7 === 0 ? undefined : (i % 13) * 1.1, remoteAddress: '127.0.0.1',
    userAgent: 'kubectl', upgrade: undefined, failure: undefined,
  })
}
function run (n: number): number {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const r = records[i & 63] as AccessRecord
    m.onAccess(r)
    if (r.user === undefined) m.onAuthFailure('expired')
  }
  return Number(process.hrtime.bigint() - t0) / n
}
run(200_000) // warm up: children created, code optimised
const results: number[] = []
for (let k = 0; k < 5; k++) results.push(run(500_000))
results.sort((a, b) => a - b)
const median = results[2] as number
console.log(`metrics.onAccess: median ${median.toFixed(0)} ns/request (runs: ${results.map((x) => x.toFixed(0)).join(', ')}); budget 2000 ns`)
process.exitCode = median < 2000 ? 0 : 1

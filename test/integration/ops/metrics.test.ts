import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request, type OutgoingHttpHeaders } from 'node:http'
import { join } from 'node:path'
import { createTempDir } from '../../helpers/pki.js'
import { parseExposition } from '../../helpers/prom-text.js'
import { startStack, type Stack } from '../../helpers/stack.js'

interface Res { status: number, text: string }

function get (base: string, path: string, headers: OutgoingHttpHeaders = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request(base + path, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

let stack: Stack
let auditFile: string
before(async () => {
  auditFile = join(createTempDir('kubegate-audit-'), 'audit.log')
  stack = await startStack({ plainHttp: true, config: { audit: { file: auditFile }, server: { trustedProxies: ['127.0.0.0/8'] } } })
})
after(async () => { await stack?.close() })

test('metrics after a scripted set of requests: counts per label, parseable exposition, probes on the metrics listener', async () => {
  const { kg, issuer } = stack
  const good = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
  const expired = await issuer.token({ email: 'user01@example.com', exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 })
  const badSig = good.slice(0, good.lastIndexOf('.') + 1) + Buffer.alloc(256, 7).toString('base64url')
  const auth = (t: string): OutgoingHttpHeaders => ({ authorization: `Bearer ${t}` })

  for (let i = 0; i < 3; i++) assert.equal((await get(kg.url, '/api/v1/namespaces/user01/pods', auth(good))).status, 200)
  assert.equal((await get(kg.url, '/api/v1/namespaces/default/pods', auth(good))).status, 403) // RBAC, upstream
  assert.equal((await get(kg.url, '/api/v1/namespaces/user01/pods')).status, 401) // no token
  assert.equal((await get(kg.url, '/api/v1/namespaces/user01/pods', auth(expired))).status, 401)
  assert.equal((await get(kg.url, '/api/v1/namespaces/user01/pods', auth(badSig))).status, 401)
  assert.equal((await get(kg.url, '/api/v1/namespaces/user01/services', { ...auth(good), 'impersonate-user': 'admin' })).status, 403)
  const other = await get(kg.url, '/apis/example.com/v1/namespaces/user01/widgets/secret-project', { ...auth(good), 'x-forwarded-for': '203.0.113.9' })
  assert.ok(other.status >= 400 && other.status < 500)

  const scrape = await get(kg.metricsServer.url, '/metrics')
  assert.equal(scrape.status, 200)
  const e = parseExposition(scrape.text)
  const req = (labels: Record<string, string>): number => e.value('kubegate_requests_total', labels)
  assert.equal(req({ code: '200', verb: 'list', resource: 'pods', subresource: '' }), 3)
  assert.equal(req({ code: '403', verb: 'list', resource: 'pods' }), 1)
  assert.equal(req({ code: '401', verb: 'list', resource: 'pods' }), 3)
  assert.equal(req({ code: '403', verb: 'list', resource: 'services' }), 1)
  assert.equal(req({ code: String(other.status), verb: 'get', resource: 'other' }), 1)

  // 6: the denied impersonation authenticated too (its access record names the user who asked).
  assert.equal(e.value('kubegate_authentication_total', { result: 'success' }), 6)
  assert.equal(e.value('kubegate_authentication_total', { result: 'no_token' }), 1)
  assert.equal(e.value('kubegate_authentication_total', { result: 'expired' }), 1)
  assert.equal(e.value('kubegate_authentication_total', { result: 'bad_signature' }), 1)
  // Behaviour change (issue 13): Impersonate-User is asked with a SubjectAccessReview, denied here.
  assert.equal(e.value('kubegate_authentication_total', { result: 'impersonation_denied' }), 1)
  assert.equal(e.value('kubegate_subject_access_reviews_total', { result: 'denied' }), 1)
  assert.equal(e.value('kubegate_subject_access_reviews_total', { result: 'allowed' }), 0)

  // One verification per distinct token; the rest are cache hits.
  assert.equal(e.value('kubegate_token_cache_misses_total'), 3)
  assert.equal(e.value('kubegate_token_cache_hits_total'), 5)
  assert.equal(e.value('kubegate_token_cache_entries'), 1)

  // 3 + 1 forwarded lists, 1 forwarded get; refused requests never reached the apiserver.
  assert.equal(e.value('kubegate_upstream_duration_seconds_count', { verb: 'list' }), 4)
  assert.equal(e.value('kubegate_upstream_duration_seconds_count', { verb: 'get' }), 1)
  assert.equal(e.value('kubegate_request_duration_seconds_count', { verb: 'list' }), 8)
  assert.ok(e.value('kubegate_jwks_fetches_total', { result: 'success' }) >= 1)
  assert.ok(e.value('kubegate_jwks_last_success_timestamp_seconds') > Date.now() / 1000 - 600)
  assert.equal(e.value('kubegate_ready'), 1)
  assert.equal(e.value('kubegate_upstream_up'), 1)
  assert.equal(e.value('kubegate_open_watches'), 0)
  assert.equal(e.types.get('kubegate_request_duration_seconds'), 'histogram')

  // Privacy and cardinality: no user, group, namespace, object name or token in any label.
  for (const s of ['user01', 'students', 'secret-project', 'example.com', good.slice(0, 20)]) {
    assert.ok(!scrape.text.includes(s), `${s} appears in the exposition`)
  }

  assert.equal((await get(kg.metricsServer.url, '/readyz')).status, 200)
  assert.equal((await get(kg.metricsServer.url, '/livez')).status, 200)
  assert.equal((await get(kg.metricsServer.url, '/healthz')).status, 200)
  assert.equal((await get(kg.metricsServer.url, '/nope')).status, 404)
  const verbose = await get(kg.metricsServer.url, '/readyz?verbose')
  assert.match(verbose.text, /\[\+\]oidc ok\n\[\+\]upstream ok\n\[\+\]shutdown ok/)

  // An open watch shows in the gauges while it lasts.
  const watch = await new Promise<{ close: () => void }>((resolve, reject) => {
    const r = request(kg.url + '/api/v1/namespaces/user01/pods?watch=true', { headers: auth(good), agent: false }, (res) => {
      assert.equal(res.statusCode, 200)
      resolve({ close: () => res.destroy() })
    })
    r.on('error', reject)
    r.end()
  })
  const during = parseExposition((await get(kg.metricsServer.url, '/metrics')).text)
  assert.equal(during.value('kubegate_open_watches'), 1)
  assert.equal(during.value('kubegate_inflight_requests'), 1)
  watch.close()
})

test('audit file: one audit.k8s.io/v1 Event per request; client address from a trusted proxy', async () => {
  const { kg, issuer } = stack
  const good = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
  const r = await get(kg.url, '/api/v1/namespaces/user01/pods/web-1', { authorization: `Bearer ${good}`, 'x-forwarded-for': '198.51.100.7, 10.1.2.3', 'user-agent': 'kubectl/v1.31.0' })
  // Events are written asynchronously: wait for the line to land.
  let events: Array<Record<string, any>> = []
  for (let i = 0; i < 100; i++) {
    events = readFileSync(auditFile, 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, any>)
    if (events.some((e) => e.requestURI === '/api/v1/namespaces/user01/pods/web-1')) break
    await new Promise((res) => setTimeout(res, 20))
  }
  const ev = events.find((e) => e.requestURI === '/api/v1/namespaces/user01/pods/web-1')
  assert.ok(ev !== undefined, 'audit event written')
  assert.equal(ev.kind, 'Event')
  assert.equal(ev.apiVersion, 'audit.k8s.io/v1')
  assert.equal(ev.level, 'Metadata')
  assert.equal(ev.stage, 'ResponseComplete')
  assert.equal(ev.verb, 'get')
  assert.deepEqual(ev.user, { username: 'user01@example.com', groups: ['students'] })
  // 127.0.0.1 is a trusted proxy, 10.1.2.3 is not: the rightmost untrusted hop is the client.
  assert.deepEqual(ev.sourceIPs, ['10.1.2.3'])
  assert.equal(ev.userAgent, 'kubectl/v1.31.0')
  assert.deepEqual(ev.objectRef, { resource: 'pods', namespace: 'user01', name: 'web-1', apiGroup: '', apiVersion: 'v1' })
  assert.equal(ev.responseStatus.code, r.status)
  assert.match(ev.requestReceivedTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  assert.ok(ev.stageTimestamp >= ev.requestReceivedTimestamp)
  // The same auditID reached the apiserver as Audit-ID, so both audit logs join on it.
  const up = stack.apiserver.requests.find((q) => q.url === '/api/v1/namespaces/user01/pods/web-1')
  assert.ok(up !== undefined)
  const auditId = up.rawHeaders[up.rawHeaders.findIndex((h, i) => i % 2 === 0 && h.toLowerCase() === 'audit-id') + 1]
  assert.equal(ev.auditID, auditId)
  const xff = up.rawHeaders.filter((h, i) => i % 2 === 1 && up.rawHeaders[i - 1]?.toLowerCase() === 'x-forwarded-for')
  assert.deepEqual(xff, ['10.1.2.3'])
  // The access log line carries the same client address.
  const line = stack.logs.find((l) => l.msg === 'request' && l.requestId === ev.auditID)
  assert.equal(line?.remoteAddress, '10.1.2.3')
  // A refused request is audited too, without a user.
  const refused = events.find((e) => e.responseStatus?.code === 401)
  assert.ok(refused !== undefined)
  assert.deepEqual(refused.user, {})
  assert.ok(!readFileSync(auditFile, 'utf8').includes(good.slice(0, 30)))
})

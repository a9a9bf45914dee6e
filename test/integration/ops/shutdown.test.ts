import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { request, type IncomingMessage } from 'node:http'
import { startApiServer, type ApiServerDouble } from '../../helpers/apiserver.js'
import { startChildKubegate, type ChildKubegate } from '../../helpers/child-kubegate.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'
import { getTestPki } from '../../helpers/pki.js'
import { testConfigTree } from '../../helpers/stack.js'

let issuer: TestIssuer | undefined
let apiserver: ApiServerDouble | undefined
let kg: ChildKubegate | undefined
after(async () => {
  kg?.kill()
  await apiserver?.close()
  await issuer?.close()
})

function open (url: string, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization: `Bearer ${token}` }, agent: false }, resolve)
    req.on('error', reject)
    req.end()
  })
}

/** Reads a response to its end; `clean` is false when the stream broke instead of ending. */
function consume (res: IncomingMessage): Promise<{ clean: boolean, body: string, at: number }> {
  return new Promise((resolve) => {
    let body = ''
    res.on('data', (c: Buffer) => { body += c.toString('utf8') })
    res.on('end', () => resolve({ clean: res.complete, body, at: Date.now() }))
    res.on('error', () => resolve({ clean: false, body, at: Date.now() }))
    res.on('aborted', () => resolve({ clean: false, body, at: Date.now() }))
  })
}

test('SIGTERM: readiness fails at once, the slow request completes, the watch ends cleanly, exit 0 within the grace period', async () => {
  const pki = await getTestPki()
  issuer = await startTestIssuer({ pki })
  apiserver = await startApiServer({ pki })
  const tree = testConfigTree(issuer, apiserver) as Record<string, any>
  tree.metrics = { listen: '127.0.0.1:0' }
  tree.log = { level: 'info' }
  tree.shutdown = { delaySeconds: 1, gracePeriodSeconds: 8 }
  kg = await startChildKubegate(tree)
  const child = kg
  const metricsReady = async (): Promise<number> => (await open(child.metricsUrl + '/readyz', 'x')).statusCode ?? 0
  for (let i = 0; i < 100 && await metricsReady() !== 200; i++) await new Promise((r) => setTimeout(r, 50))
  assert.equal(await metricsReady(), 200)

  const token = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
  const watchRes = await open(kg.url + '/api/v1/namespaces/user01/pods?watch=true', token)
  assert.equal(watchRes.statusCode, 200)
  assert.equal(watchRes.headers['transfer-encoding'], 'chunked')
  const watch = consume(watchRes)
  apiserver.delay(2500, /limit=7/)
  const slowStarted = Date.now()
  const slow = open(kg.url + '/api/v1/namespaces/user01/pods?limit=7', token).then(consume)
  for (let i = 0; i < 100 && !apiserver.requests.some((r) => r.url.includes('limit=7')); i++) await new Promise((r) => setTimeout(r, 20))

  const termAt = Date.now()
  kg.child.kill('SIGTERM')
  await kg.waitFor((l) => l.msg === 'shutdown: readiness failing, still accepting')
  assert.equal(await metricsReady(), 503)

  const s = await slow
  assert.equal(s.clean, true, 'the in-flight slow request completed')
  assert.ok(s.at - slowStarted >= 2400)
  assert.match(s.body, /"kind":"PodList"/)
  const w = await watch
  assert.equal(w.clean, true, 'the watch ended with its terminating chunk, not a reset')
  // Watches end only after ordinary requests have drained.
  assert.ok(w.at >= s.at - 50, 'watch ended after the slow request')
  const code = await kg.exited
  assert.equal(code, 0)
  // delay 1 s + the 2.5 s request (the grace period was not needed in full).
  assert.ok(Date.now() - termAt < 8000, `exited after ${Date.now() - termAt} ms`)
  assert.ok(kg.lines.some((l) => l.msg === 'shutdown complete' && l.drained === true && l.sessionsClosed === 1))
  // The watch was also released upstream.
  for (let i = 0; i < 50 && apiserver.openWatches > 0; i++) await new Promise((r) => setTimeout(r, 20))
  assert.equal(apiserver.openWatches, 0)
})

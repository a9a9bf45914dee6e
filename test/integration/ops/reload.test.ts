import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, writeFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import { request } from 'node:https'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { loadConfig } from '../../../src/config/load.js'
import { createReloader, reloadableFiles, type Reloader } from '../../../src/lifecycle.js'
import { createTempDir, getTestPki, type IssuedCert } from '../../helpers/pki.js'
import { parseExposition } from '../../helpers/prom-text.js'
import { startStack, testConfigTree, type Stack } from '../../helpers/stack.js'
import { until } from '../../helpers/poll.js'

let stack: Stack | undefined
let reloader: Reloader | undefined
after(async () => {
  reloader?.close()
  await stack?.close()
})

function open (url: string, ca: string, token: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` }, agent: false }, resolve)
    req.on('error', reject)
    req.end()
  })
}
function serialOf (res: IncomingMessage): string {
  return (res.socket as TLSSocket).getPeerCertificate().serialNumber
}
test('hot reload: serving certificate, service-account token, refused bad config, OIDC swap', async () => {
  const pki = await getTestPki()
  const a: IssuedCert = await pki.issue('kg-rotate-a')
  const b: IssuedCert = await pki.issue('kg-rotate-b')
  const dir = createTempDir('kubegate-tls-')
  const certFile = join(dir, 'tls.crt')
  const keyFile = join(dir, 'tls.key')
  copyFileSync(a.certFile, certFile)
  copyFileSync(a.keyFile, keyFile)
  stack = await startStack({ config: { tls: { certFile, privateKeyFile: keyFile }, upstream: { tokenRefreshSeconds: 3600 } } })
  const { kg, issuer, apiserver } = stack
  let config = stack.config
  reloader = createReloader({
    kg,
    initial: config,
    load: () => config,
    files: (c) => reloadableFiles(c, undefined),
    pollMs: 200,
    debounceMs: 50,
    logger: kg.logger,
  })
  const token = await issuer.token({ email: 'user01@example.com', groups: ['students'] })
  const list = kg.url + '/api/v1/namespaces/user01/pods'

  const first = await open(list, pki.caPem, token)
  const serialA = serialOf(first)
  first.resume()
  assert.equal(first.statusCode, 200)

  // An open watch on a connection made with certificate A.
  const watch = await open(list + '?watch=true', pki.caPem, token)
  assert.equal(watch.statusCode, 200)
  assert.equal(serialOf(watch), serialA)
  let watched = ''
  watch.on('data', (c: Buffer) => { watched += c.toString('utf8') })

  // 1. Certificate rotation: the files are replaced; new connections see B.
  copyFileSync(b.keyFile, keyFile)
  copyFileSync(b.certFile, certFile)
  let serialNow = serialA
  await until('new connections to see the new certificate', async () => {
    const r = await open(list, pki.caPem, token)
    r.resume()
    serialNow = serialOf(r)
    return serialNow !== serialA
  })
  assert.notEqual(serialNow, serialA)
  // ... and the watch opened before the rotation still delivers events.
  apiserver.emitPodEvent('user01', 'ADDED', apiserver.addPod('user01', 'after-rotation'))
  await until('the open watch to see the event', () => watched.includes('after-rotation'))
  assert.equal(watch.complete, false)

  // 2. A broken certificate file is refused; the running one stays.
  writeFileSync(certFile, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n')
  await until('the refusal to be logged', () => stack!.logs.some((l) => l.msg === 'configuration reload refused; keeping the current one'))
  const still = await open(list, pki.caPem, token)
  still.resume()
  assert.equal(still.statusCode, 200)
  assert.equal(serialOf(still), serialNow)
  copyFileSync(b.certFile, certFile)

  // 3. Service-account token rotation: the kubelet-like rewrite of the token file is picked up.
  const before = apiserver.tokensSeen.length
  const rotated = 'sa-token-rotated-' + Date.now().toString(36)
  await apiserver.setToken(rotated)
  await until('the new token to be used upstream', async () => {
    const r = await open(list, pki.caPem, token)
    r.resume()
    return r.statusCode === 200 && apiserver.tokensSeen.at(-1) === rotated
  })
  assert.ok(apiserver.tokensSeen.length > before)
  assert.equal(kg.token.header, `Bearer ${rotated}`)

  // 4. New OIDC settings pointing at an unreachable issuer are refused; the old verifier keeps serving.
  const verifierBefore = kg.verifier
  const tree = testConfigTree(issuer, apiserver) as Record<string, any>
  tree.tls = { certFile, privateKeyFile: keyFile }
  tree.metrics = { listen: '127.0.0.1:0' }
  tree.upstream.tokenRefreshSeconds = 3600
  tree.oidc.issuerUrl = 'https://127.0.0.1:9' // discard port: nothing listens
  config = loadConfig({ overrides: tree, env: {} })
  assert.equal(await reloader.reload('SIGHUP'), false)
  assert.equal(kg.verifier, verifierBefore)
  const ok = await open(list, pki.caPem, token)
  ok.resume()
  assert.equal(ok.statusCode, 200)

  // 5. A usable OIDC change is swapped in atomically: a new verifier, a fresh token cache.
  tree.oidc.issuerUrl = issuer.url
  tree.oidc.groupsPrefix = 'oidc:'
  config = loadConfig({ overrides: tree, env: {} })
  assert.equal(await reloader.reload('SIGHUP'), true)
  assert.notEqual(kg.verifier, verifierBefore)
  const after = await open(list, pki.caPem, token)
  after.resume()
  const last = apiserver.requests.at(-1)
  assert.ok(last?.identity?.groups.includes('oidc:students'), `groups upstream: ${JSON.stringify(last?.identity?.groups)}`)
  assert.ok(stack.logs.some((l) => l.msg === 'configuration reloaded' && Array.isArray(l.changed) && (l.changed as string[]).includes('oidc')))

  const metrics = parseExposition(await kg.metrics.registry.metrics())
  assert.ok(metrics.value('kubegate_config_reloads_total', { result: 'failure' }) >= 2)
  assert.ok(metrics.value('kubegate_config_reloads_total', { result: 'success' }) >= 2)
  watch.destroy()
})

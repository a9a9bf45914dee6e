import { after, test } from 'node:test'
import assert from 'node:assert/strict'
import { shutdown } from '../../../src/lifecycle.js'
import { startApiServer, type ApiServerDouble } from '../../helpers/apiserver.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'
import { getTestPki } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { get, until } from '../../helpers/poll.js'

let issuer: TestIssuer | undefined
let apiserver: ApiServerDouble | undefined
const stacks: Stack[] = []
after(async () => {
  for (const s of stacks) await s.close()
  await apiserver?.close()
  await issuer?.close()
})

test('readiness follows the truth both ways: issuer, JWKS staleness, upstream, shutdown', async () => {
  const pki = await getTestPki()
  issuer = await startTestIssuer({ pki })
  apiserver = await startApiServer({ pki })
  issuer.setDiscoveryMode('fail')
  let skewMs = 0
  const stack = await startStack({
    plainHttp: true,
    peers: { issuer, apiserver },
    // The injected clock also ages the revocation list (shared state fails closed after its staleness bound);
    // that bound is raised so this test observes the OIDC and upstream checks alone.
    config: {
      oidc: { jwksStaleAfterSeconds: 60 },
      upstream: { healthCheckSeconds: 1, tokenRefreshSeconds: 3600 },
      revocation: { maxStalenessSeconds: 3600 },
    },
    start: { now: () => Date.now() + skewMs },
  })
  stacks.push(stack)
  const readyz = (): Promise<{ status: number, text: string }> => get(stack.kg.metricsServer.url + '/readyz?verbose')

  // 1. Issuer unreachable at start: not ready, on both listeners, with the reason.
  let r = await readyz()
  assert.equal(r.status, 503)
  assert.match(r.text, /\[-\]oidc failed: discovery pending/)
  assert.equal((await get(stack.kg.url + '/readyz')).status, 503)
  assert.equal(stack.kg.isReady(), false)

  // 2. The issuer comes up: discovery retries and readiness turns true.
  issuer.setDiscoveryMode('ok')
  await until('ready after the issuer came up', async () => (await readyz()).status === 200)
  assert.equal((await get(stack.kg.url + '/readyz')).status, 200)

  // 3. The key set has not been refreshed for longer than the bound: not ready; a refresh makes it ready again.
  skewMs = 61_000
  r = await readyz()
  assert.equal(r.status, 503)
  assert.match(r.text, /\[-\]oidc failed: key set stale/)
  await stack.kg.verifier.refreshKeys()
  assert.equal((await readyz()).status, 200)
  skewMs = 0

  // 4. The apiserver stops accepting kubegate's token: the periodic check notices; a re-read token recovers.
  await apiserver.setToken('rotated-' + Date.now().toString(36))
  await until('not ready after the upstream refused the token', async () => (await readyz()).status === 503)
  assert.match((await readyz()).text, /\[-\]upstream failed: apiserver refused kubegate's token \(401\)/)
  await stack.kg.token.reload()
  await until('ready again with the new token', async () => (await readyz()).status === 200)

  // 5. Shutdown: readiness fails at once while the proxy listener still answers during the delay.
  const done = shutdown(stack.kg, { delayMs: 400, graceMs: 1000 })
  r = await readyz()
  assert.equal(r.status, 503)
  assert.match(r.text, /\[-\]shutdown failed: shutting down/)
  assert.equal((await get(stack.kg.url + '/livez')).status, 200)
  assert.equal((await get(stack.kg.url + '/readyz')).status, 503)
  const report = await done
  assert.equal(report.drained, true)
  await assert.rejects(get(stack.kg.url + '/livez'), /ECONNREFUSED/)
})

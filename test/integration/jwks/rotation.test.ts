/**
 * Key rotation end to end, with the Dex-shaped test issuer over HTTPS and kubegate's login page on: a bearer
 * token signed with a just-rotated key right after a fetch, a sign-in right after a rotation while bearer
 * refetches are in cooldown, and a sign-in while the issuer's key set is down (a retry page, not 403).
 *
 * The unknown-kid cooldown is set to its maximum (3600 s) so no step can outlast it, whatever the machine's
 * load: what each test shows holds without any timing assumption.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { httpsRequest, type HttpsResult } from '../../helpers/https-get.js'
import { getTestPki, createTempDir } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'
import { startApiServer, type ApiServerDouble } from '../../helpers/apiserver.js'
import { freePort } from '../../helpers/free-port.js'

describe('issuer key rotation: bearer tokens and the login page', { timeout: 120_000 }, () => {
  const dir = createTempDir('kubegate-rotation-')
  const secret = 'client-secret-' + randomBytes(8).toString('hex')
  let issuer: TestIssuer
  let apiserver: ApiServerDouble
  let s: Stack
  let publicUrl: string

  before(async () => {
    const pki = await getTestPki()
    issuer = await startTestIssuer({ pki, clientSecret: secret })
    issuer.setLoginClaims({ email: 'user01@example.com', groups: ['students'] })
    apiserver = await startApiServer({ pki })
    const port = await freePort()
    publicUrl = `https://127.0.0.1:${port}`
    const secretFile = join(dir, 'client-secret')
    await writeFile(secretFile, secret + '\n', { mode: 0o600 })
    s = await startStack({
      peers: { issuer, apiserver },
      config: {
        listen: `127.0.0.1:${port}`,
        oidc: { jwksRefreshCooldownSeconds: 3600 },
        login: { publicUrl, clientSecretFile: secretFile },
        log: { level: 'warn' },
      },
    })
  })

  after(async () => {
    await s?.close()
    await apiserver?.close()
    await issuer?.close()
  })

  async function pods (token: string): Promise<number> {
    const r = await httpsRequest(`${publicUrl}/api/v1/namespaces/user01/pods`, { ca: s.caPem, headers: { authorization: `Bearer ${token}` } })
    return r.status
  }

  /** /login -> the issuer's /auth (approves at once) -> /callback with the login cookie, as a browser would. */
  async function signIn (): Promise<HttpsResult> {
    const start = await httpsRequest(`${publicUrl}/login`, { ca: s.caPem })
    assert.equal(start.status, 302, start.text)
    const cookie = ((start.headers['set-cookie'] as string[])[0] ?? '').split(';')[0] as string
    const atIssuer = await httpsRequest(start.headers.location as string, { ca: issuer.caPem })
    assert.equal(atIssuer.status, 302, atIssuer.text)
    const back = new URL(atIssuer.headers.location as string)
    assert.equal(back.origin, publicUrl)
    return httpsRequest(back.href, { ca: s.caPem, headers: { cookie } })
  }

  it('(c) a bearer token signed with a just-rotated key, right after a fetch, is accepted after one refetch', async () => {
    assert.equal(await s.kg.verifier.refreshKeys(), true) // the key set was fetched a moment ago
    const before = issuer.jwksFetches
    await issuer.rotate()
    assert.equal(await pods(await issuer.token({ email: 'user01@example.com', sub: 'rotated' })), 200)
    assert.equal(issuer.jwksFetches - before, 1)
  })

  it('a flood of 1,000 forged kids then costs one fetch in the (3600 s) cooldown, and all get 401', async () => {
    const before = issuer.jwksFetches
    const tokens = await Promise.all(Array.from({ length: 1000 }, (_, i) =>
      issuer.token({ email: 'user01@example.com', sub: `flood-${i}` }, { kid: randomBytes(8).toString('hex') })))
    const results = await Promise.allSettled(tokens.map(async (t) => s.kg.authenticator.authenticate(t)))
    assert.ok(results.every((r) => r.status === 'rejected'))
    assert.equal(issuer.jwksFetches - before, 1)
  })

  it('(a) /login -> /callback right after a rotation succeeds, though bearer refetches are in cooldown', async () => {
    await issuer.rotate()
    const bearerBefore = issuer.jwksFetches
    // The bearer path is in cooldown after the flood: a token with the new key is refused without a fetch ...
    assert.equal(await pods(await issuer.token({ email: 'user01@example.com', sub: 'in-cooldown' })), 401)
    assert.equal(issuer.jwksFetches, bearerBefore)
    // ... but the login's ID token comes from the issuer itself: the keys are refreshed at once.
    const page = await signIn()
    assert.equal(page.status, 200, page.text)
    assert.match(page.text, /<code id="kg-user">user01@example\.com<\/code>/)
    assert.equal(issuer.jwksFetches - bearerBefore, 1)
    // and from now on the new key is known to the bearer path too
    assert.equal(await pods(await issuer.token({ email: 'user01@example.com', sub: 'after-login' })), 200)
  })

  it('(b) the issuer\'s key set down during the callback: a 503 retry page, not 403 "not allowed"', async () => {
    await issuer.rotate()
    issuer.setJwksMode('fail')
    try {
      const page = await signIn()
      assert.equal(page.status, 503, page.text)
      assert.equal(page.headers['retry-after'], '5')
      assert.match(page.text, /data-failure="try_again"/)
      assert.match(page.text, /try again in a moment/)
    } finally {
      issuer.setJwksMode('ok')
    }
    assert.equal((await signIn()).status, 200, 'the same sign-in works once the key set is back')
  })
})

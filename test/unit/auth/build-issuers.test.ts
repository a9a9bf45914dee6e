// buildAuthentication with the --oidc-* flags and with an AuthenticationConfiguration: issuers, readiness per issuer, fingerprints that follow the file.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import pino from 'pino'
import { authenticationFingerprint, authenticationReadiness, buildAuthentication, type Authentication } from '../../../src/auth/build.js'
import { loadConfig } from '../../../src/config/load.js'
import { Swappable } from '../../../src/swappable.js'
import { ClientCredential, type PassedThrough, type TokenReviewer } from '../../../src/auth/token-review.js'
import { isKubegateError } from '../../../src/errors.js'

const dir = mkdtempSync(join(tmpdir(), 'kg-build-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const logger = pino({ level: 'silent' })
const UPSTREAM = ['--upstream-server=https://10.0.0.1:6443', '--upstream-token-file=/dev/null']

function authnFile (issuers: string[]): string {
  const path = join(dir, 'authn.yaml')
  writeFileSync(path, `apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n${issuers.map((u) =>
    `- issuer: {url: "${u}", audiences: [kubegate]}\n  claimMappings: {username: {claim: sub, prefix: ""}}\n`).join('')}`)
  return path
}

describe('buildAuthentication', () => {
  const built: Authentication[] = []
  after(async () => { for (const a of built) await a.issuers.close() })

  it('the --oidc-* flags: one issuer, readiness check named oidc as before', () => {
    const config = loadConfig({ argv: ['--oidc-issuer-url=https://dex.example.com', '--oidc-client-id=kubegate', ...UPSTREAM] })
    const a = buildAuthentication(config, { logger })
    built.push(a)
    assert.deepEqual(a.issuers.router.issuers, ['https://dex.example.com'])
    assert.equal(a.verifier.issuerUrl, 'https://dex.example.com')
    assert.deepEqual(authenticationReadiness(new Swappable(a)).map((c) => [c.name, c.check()]), [['oidc', 'discovery pending']])
  })
  it('a file: one verifier and one readiness check per issuer, in file order', () => {
    const path = authnFile(['https://a.example.com', 'https://b.example.com/x'])
    const a = buildAuthentication(loadConfig({ argv: [`--authentication-config=${path}`, ...UPSTREAM] }), { logger })
    built.push(a)
    assert.equal(a.loaded.source, path)
    assert.deepEqual(authenticationReadiness(new Swappable(a)).map((c) => c.name), ['oidc https://a.example.com', 'oidc https://b.example.com/x'])
    assert.equal(a.issuers.hasIssuer('https://b.example.com/x'), true)
    assert.equal(a.verifier.issuerUrl, 'https://a.example.com', 'the first issuer is the login page\'s')
  })
  it('the fingerprint follows the file\'s content, so a reload rebuilds exactly when it changed', () => {
    const path = authnFile(['https://a.example.com'])
    const config = loadConfig({ argv: [`--authentication-config=${path}`, ...UPSTREAM] })
    const before = authenticationFingerprint(config)
    assert.equal(authenticationFingerprint(config), before)
    authnFile(['https://a.example.com', 'https://c.example.com'])
    assert.notEqual(authenticationFingerprint(config), before)
  })
  it('token passthrough: a token of any configured issuer stays with kubegate, any other goes to the TokenReview', async () => {
    const path = authnFile(['https://a.example.com', 'https://b.example.com/x'])
    const reviewed: string[] = []
    const reviewer: TokenReviewer = {
      async review (token) {
        reviewed.push(token)
        const identity = { user: 'system:serviceaccount:ci:bot', groups: [], uid: undefined, sub: 'bot', exp: 2_000_000_000, iat: undefined }
        return { identity, headers: [], tokenHash: 'r', keyId: undefined, passthrough: new ClientCredential(token) } satisfies PassedThrough
      },
      cached: () => undefined,
      evict: () => 0,
      clear: () => {},
      size: 0,
      stats: { hits: 0, misses: 0, negativeHits: 0 },
    }
    const a = buildAuthentication(loadConfig({ argv: [`--authentication-config=${path}`, ...UPSTREAM] }), { logger, passthrough: reviewer })
    built.push(a)
    const seg = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
    const jwt = (iss: string): string => `${seg({ alg: 'RS256', kid: 'k' })}.${seg({ iss, sub: 'x', aud: 'kubegate', exp: 2_000_000_000 })}.c2ln`
    // The second issuer's token is kubegate's to verify (its verifier has no keys yet: 503), never reviewed.
    await assert.rejects(Promise.resolve().then(() => a.authenticator.authenticate(jwt('https://b.example.com/x'))), (e: unknown) => isKubegateError(e) && e.statusCode === 503)
    assert.deepEqual(reviewed, [])
    const other = jwt('https://elsewhere.example.com')
    const r = await a.authenticator.authenticate(other)
    assert.equal(r.identity.user, 'system:serviceaccount:ci:bot')
    assert.deepEqual(reviewed, [other])
  })
})

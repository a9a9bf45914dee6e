// `--authentication-config` / `authentication.configFile` against the `--oidc-*` issuer settings: one source of issuers, never both.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig, type LoadOptions } from '../../../src/config/load.js'

function problemsOf (opts: LoadOptions): readonly string[] {
  try {
    loadConfig(opts)
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err))
    return err.problems
  }
  return []
}

describe('config: authentication.configFile', () => {
  it('the flag, the environment variable and the YAML key name the same setting', () => {
    for (const opts of [
      { argv: ['--authentication-config=/etc/kubegate/authn.yaml', '--oidc-issuer-url=https://x', '--oidc-client-id=a'] },
      { env: { KUBEGATE_AUTHENTICATION_CONFIG: '/etc/kubegate/authn.yaml', KUBEGATE_OIDC_ISSUER_URL: 'https://x', KUBEGATE_OIDC_CLIENT_ID: 'a' } },
      { yamlText: 'authentication:\n  configFile: /etc/kubegate/authn.yaml\noidc:\n  issuerUrl: https://x\n  clientId: a\n' },
    ]) {
      const problems = problemsOf(opts)
      assert.ok(problems.some((p) => p.startsWith('authentication.configFile: cannot be combined with oidc.issuerUrl (--oidc-issuer-url')), problems.join('\n'))
      assert.ok(problems.some((p) => p.startsWith('authentication.configFile: cannot be combined with oidc.clientId')), problems.join('\n'))
    }
  })
  it('every issuer setting is refused with the file, each reported', () => {
    const argv = ['--authentication-config=/f', '--oidc-username-claim=email', '--oidc-groups-claim=groups', '--oidc-signing-algs=ES256', '--oidc-required-claim=hd=x', '--oidc-ca-file=/ca']
    const problems = problemsOf({ argv })
    for (const key of ['usernameClaim', 'groupsClaim', 'signingAlgs', 'requiredClaims', 'caFile']) {
      assert.ok(problems.some((p) => p.includes(`cannot be combined with oidc.${key} `)), key)
    }
  })
  it("kubegate's own oidc settings still apply to the file's issuers", () => {
    const problems = problemsOf({ argv: ['--authentication-config=/f', '--oidc-clock-skew-seconds=30', '--allow-reserved-identities', '--oidc-max-groups=64'] })
    assert.ok(!problems.some((p) => p.includes('cannot be combined')), problems.join('\n'))
  })
  it("the file's own problems are listed with the configuration's, each with its path", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kg-authn-'))
    after(() => rmSync(dir, { recursive: true, force: true }))
    const path = join(dir, 'authn.yaml')
    writeFileSync(path, 'apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer: {url: "http://dex", audiences: []}\n  claimMappings: {username: {claim: sub}}\n')
    const problems = problemsOf({ argv: [`--authentication-config=${path}`, '--listen=bad'] })
    assert.ok(problems.includes('authentication.configFile: jwt[0].issuer.url: Invalid value: "http://dex": URL scheme must be https'), problems.join('\n'))
    assert.ok(problems.includes('authentication.configFile: jwt[0].issuer.audiences: Required value: at least one jwt[0].issuer.audiences is required'))
    assert.ok(problems.some((p) => p.startsWith('authentication.configFile: jwt[0].claimMappings.username.prefix: Required value')))
    assert.ok(problems.some((p) => p.startsWith('listen:')), 'the other problems too')
    assert.ok(problemsOf({ argv: [`--authentication-config=${join(dir, 'missing.yaml')}`] }).some((p) => /cannot read: ENOENT/.test(p)))
  })
})

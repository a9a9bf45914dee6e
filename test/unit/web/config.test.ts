import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../../src/config/load.js'

const BASE = { oidc: { issuerUrl: 'https://dex.example.edu', clientId: 'kubegate' }, upstream: { server: 'https://10.0.0.1:6443', tokenFile: '/t' } }

function problems (login: Record<string, unknown>): readonly string[] {
  try {
    loadConfig({ overrides: { ...BASE, login }, env: {} })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}

describe('login config', () => {
  it('is off by default, with safe defaults', () => {
    const c = loadConfig({ overrides: BASE, env: {} })
    assert.equal(c.login.publicUrl, undefined)
    assert.deepEqual(c.login.scopes, ['openid', 'email', 'groups', 'profile'])
    assert.equal(c.login.includeClientSecret, false)
    assert.equal(c.login.staticTokenForm, true)
    assert.equal(c.login.userNamespaceFromEmail, false)
  })

  it('accepts an https origin, and http only on loopback', () => {
    assert.deepEqual(problems({ publicUrl: 'https://k8s.example.edu:8443' }), [])
    assert.deepEqual(problems({ publicUrl: 'https://k8s.example.edu/' }), [])
    assert.deepEqual(problems({ publicUrl: 'http://127.0.0.1:8443' }), [])
    assert.deepEqual(problems({ publicUrl: 'http://k8s.example.edu' }), ['login.publicUrl: must use https (http only on loopback)'])
  })

  it('refuses a path, a query, credentials, a missing openid scope, and a secret to include without a file', () => {
    assert.match(problems({ publicUrl: 'https://k8s.example.edu/kubegate' })[0] ?? '', /^login.publicUrl: must not have a path/)
    assert.deepEqual(problems({ publicUrl: 'https://k8s.example.edu/?a=b' }), ['login.publicUrl: must not have a query or fragment'])
    assert.deepEqual(problems({ publicUrl: 'https://u:p@k8s.example.edu' }), ['login.publicUrl: must not contain credentials'])
    assert.deepEqual(problems({ publicUrl: 'https://k8s.example.edu', scopes: ['email'] }), ['login.scopes: must include openid'])
    assert.deepEqual(problems({ publicUrl: 'https://k8s.example.edu', includeClientSecret: true }), ['login.includeClientSecret: needs login.clientSecretFile'])
  })

  it('has flags and environment variables like every other setting', () => {
    const c = loadConfig({ argv: ['--login-public-url=https://k8s.example.edu', '--login-user-namespace-from-email'], overrides: BASE, env: { KUBEGATE_LOGIN_SCOPES: 'openid,email,offline_access' } })
    assert.equal(c.login.publicUrl, 'https://k8s.example.edu')
    assert.equal(c.login.userNamespaceFromEmail, true)
    assert.deepEqual(c.login.scopes, ['openid', 'email', 'offline_access'])
  })
})

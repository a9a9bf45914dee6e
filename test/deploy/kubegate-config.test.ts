/**
 * The kubegate.yaml files shipped in deploy/ are loaded by the real config loader (schema, unknown keys,
 * semantic checks), so a renamed setting can never leave the manifests silently broken.
 */
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config/load.js'

const FILES = ['deploy/base/kubegate.yaml', 'deploy/examples/dex-classroom/kubegate.yaml', 'deploy/examples/single/kubegate.yaml']

for (const file of FILES) {
  test(`${file} is a valid kubegate configuration`, () => {
    let config
    try {
      config = loadConfig({ yamlText: readFileSync(file, 'utf8'), env: {} })
    } catch (err) {
      assert.fail(err instanceof ConfigError ? err.message : String(err))
    }
    assert.equal(config.oidc.usernameClaim, 'email')
    assert.equal(config.oidc.groupsPrefix, 'oidc:')
    // In a pod the probes and Prometheus come from outside: the metrics listener must not be loopback-only.
    assert.equal(config.metrics.listen.host, '0.0.0.0')
    assert.equal(config.metrics.listen.port, 9090)
    assert.ok(config.tls.certFile !== undefined, 'production manifests serve TLS')
    assert.equal(config.upstream.server, undefined, 'in-cluster service account upstream')
  })
}

test('the classroom example shares state through Redis and enables the admin API', () => {
  const c = loadConfig({ yamlText: readFileSync('deploy/examples/dex-classroom/kubegate.yaml', 'utf8'), env: {} })
  assert.match(c.store.redisUrl ?? '', /^redis:\/\//)
  assert.equal(c.admin.group, 'oidc:k8s-admins')
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { loadConfig } from '../../../src/config/load.js'
import { buildRedisOptions } from '../../../src/store/redis-options.js'

const base = { keyPrefix: 'k:', commandTimeoutMs: 250 }

describe('redis options', () => {
  it('never queues commands while disconnected and bounds every command', () => {
    const o = buildRedisOptions({ ...base, url: 'redis://r.example:6380/2' })
    assert.equal(o.enableOfflineQueue, false)
    assert.equal(o.commandTimeout, 250)
    assert.equal(o.autoResubscribe, false)
    assert.equal(o.host, 'r.example')
    assert.equal(o.port, 6380)
    assert.equal(o.db, 2)
    assert.equal(o.tls, undefined)
  })
  it('uses TLS for rediss:// with the given CA, and the password from the file', () => {
    const o = buildRedisOptions({ ...base, url: 'rediss://kg@r.example', password: 'pw', ca: 'PEM' })
    assert.deepEqual(o.tls, { ca: 'PEM' })
    assert.equal(o.username, 'kg')
    assert.equal(o.password, 'pw')
  })
  it('sentinel mode', () => {
    const o = buildRedisOptions({ ...base, url: 'rediss://', sentinels: [{ host: 's1', port: 26379 }], sentinelMaster: 'mymaster', password: 'pw' })
    assert.deepEqual(o.sentinels, [{ host: 's1', port: 26379 }])
    assert.equal(o.name, 'mymaster')
    assert.equal(o.sentinelPassword, 'pw')
    assert.equal(o.enableTLSForSentinelMode, true)
    assert.equal(o.host, undefined)
  })
  it('refuses a password in the URL', () => {
    assert.throws(() => buildRedisOptions({ ...base, url: 'redis://:secret@r' }), /must not contain a password/)
  })
})

describe('shared-state configuration', () => {
  const required = { oidc: { issuerUrl: 'https://issuer', clientId: 'kubegate' }, upstream: { server: 'https://api', tokenFile: '/var/run/token' } }
  const problems = (overrides: Record<string, unknown>): string => {
    try {
      loadConfig({ overrides: { ...required, ...overrides }, env: {} })
      return ''
    } catch (err) {
      return (err as Error).message
    }
  }
  it('has safe defaults: memory store, API off, no rate limit, 24 h revocations', () => {
    const c = loadConfig({ overrides: required, env: {} })
    assert.equal(c.store.redisUrl, undefined)
    assert.equal(c.admin.group, undefined)
    assert.equal(c.rateLimit.requestsPerSecond, 0)
    assert.equal(c.revocation.maxTokenLifetimeSeconds, 86400)
  })
  it('reports bad Redis settings', () => {
    assert.match(problems({ store: { redisUrl: 'http://r' } }), /store.redisUrl: must be redis:\/\/ or rediss:\/\//)
    assert.match(problems({ store: { redisUrl: 'redis://:pw@r' } }), /must not contain a password/)
    assert.match(problems({ store: { redisSentinels: ['s1:26379'] } }), /redisSentinelMaster: required/)
    assert.match(problems({ store: { redisPasswordFile: '/x' } }), /needs store.redisUrl/)
    assert.match(problems({ revocation: { resyncSeconds: 30, maxStalenessSeconds: 30 } }), /must be greater than/)
  })
  it('takes flags kube-apiserver style', () => {
    const c = loadConfig({ argv: ['--redis-url', 'rediss://r:6379', '--admin-group', 'admins', '--rate-limit-exempt-groups', 'a,b'], overrides: required, env: {} })
    assert.equal(c.store.redisUrl, 'rediss://r:6379')
    assert.equal(c.admin.group, 'admins')
    assert.deepEqual(c.rateLimit.exemptGroups, ['a', 'b'])
  })
})

// Unit tests of the Redis store's Lua scripts against a real redis-server: rate-limit leases, heartbeats, counters.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { defineScripts, type RedisScripts } from '../../../src/store/redis-scripts.js'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { connection, ready } from './redis-parts.js'

describe('redis scripts', { skip: !hasRedis() && 'no redis-server' }, () => {
  let server: TestRedis
  let client: Redis
  let scripts: RedisScripts
  before(async () => {
    server = await startRedis()
    client = await ready(connection(server.url))
    scripts = defineScripts(client)
  })
  after(async () => {
    client?.disconnect()
    await server?.close()
  })

  it('kgLease: a new bucket starts full, grants whole tokens in order, never goes below 0, and expires when idle', async () => {
    // A refill rate of 0 keeps the arithmetic independent of the server's clock between calls. Per key: want, spent.
    const policy = [0, 10, 60_000] as const
    assert.deepEqual(await scripts.kgLease(2, 'b:1', 'b:2', ...policy, 3, 0, 0, 0), ['3', '7.000000', '0', '10.000000'])
    assert.deepEqual(await scripts.kgLease(1, 'b:1', ...policy, 100, 0), ['7', '0.000000'], 'only what the bucket holds')
    assert.deepEqual(await scripts.kgLease(1, 'b:1', ...policy, 1, 0), ['0', '0.000000'], 'a grant never goes below 0')
    const pttl = await client.pttl('b:1')
    assert.ok(pttl > 0 && pttl <= 60_000, `pttl ${pttl}`)
  })

  it('kgLease: debits what was spent on a local share first, down to -burst at most', async () => {
    const policy = [0, 10, 60_000] as const
    assert.deepEqual(await scripts.kgLease(1, 'd:1', ...policy, 2, 3), ['2', '5.000000'], '10 - 3 spent - 2 granted')
    assert.deepEqual(await scripts.kgLease(1, 'd:1', ...policy, 2, 9), ['0', '-4.000000'], 'in debt: nothing granted')
    assert.deepEqual(await scripts.kgLease(1, 'd:1', ...policy, 0, 100), ['0', '-10.000000'], 'never below -burst')
  })

  it('kgHeartbeat: counts live members once each and drops the expired', async () => {
    assert.equal(Number(await scripts.kgHeartbeat('hb', 'a', 60_000)), 1)
    assert.equal(Number(await scripts.kgHeartbeat('hb', 'a', 60_000)), 1)
    assert.equal(Number(await scripts.kgHeartbeat('hb', 'b', 60_000)), 2)
    await client.zadd('hb', 1, 'gone') // expired in 1970
    assert.equal(Number(await scripts.kgHeartbeat('hb', 'a', 60_000)), 2)
    assert.equal(await client.zscore('hb', 'gone'), null)
  })

  it('kgIncr: adds atomically and sets the time to live', async () => {
    assert.equal(Number(await scripts.kgIncr('n', 5, 60_000)), 5)
    assert.equal(Number(await scripts.kgIncr('n', -2, 60_000)), 3)
    const pttl = await client.pttl('n')
    assert.ok(pttl > 0 && pttl <= 60_000, `pttl ${pttl}`)
  })
})

// Unit tests of the Redis store's state tracker with real connections: up only when all is ready, the stalled-server probe, announcements, close.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { pino } from 'pino'
import { RedisStateTracker } from '../../../src/store/redis-state.js'
import type { StoreState } from '../../../src/store/types.js'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { connection, ready, until } from './redis-parts.js'

describe('RedisStateTracker', { skip: !hasRedis() && 'no redis-server' }, () => {
  let server: TestRedis
  let client: Redis
  let sub: Redis
  before(async () => {
    server = await startRedis()
    client = await ready(connection(server.url))
    sub = await ready(connection(server.url))
  })
  after(async () => {
    client?.disconnect()
    sub?.disconnect()
    await server?.close()
  })

  it('up only once both connections are ready and every channel is subscribed; each change announced once', () => {
    const t = new RedisStateTracker(client, sub, undefined, 100)
    const seen: StoreState[] = []
    t.onStateChange((s) => seen.push(s))
    t.update()
    assert.equal(t.state, 'down', 'not subscribed yet')
    t.setSubscribed(true)
    t.update()
    t.update()
    assert.equal(t.state, 'up')
    t.setSubscribed(false)
    t.update()
    assert.deepEqual(seen, ['up', 'down'])
    t.close()
  })

  it('down while a connection is not ready', async () => {
    const idle = connection(server.url, true)
    const t = new RedisStateTracker(client, idle, undefined, 100)
    t.setSubscribed(true)
    t.update()
    assert.equal(t.state, 'down')
    await idle.connect()
    t.update()
    assert.equal(t.state, 'up')
    t.close()
    idle.disconnect()
  })

  it('a timed-out command holds the state down until a PING answers; other failures do not', async () => {
    const t = new RedisStateTracker(client, sub, undefined, 100)
    const seen: StoreState[] = []
    t.onStateChange((s) => seen.push(s))
    t.setSubscribed(true)
    t.update()
    const refused = new Error('ERR wrong number of arguments')
    assert.throws(() => t.commandFailed(refused), (e) => e === refused)
    await Promise.resolve()
    assert.equal(t.state, 'up')
    const timedOut = new Error('Command timed out')
    assert.throws(() => t.commandFailed(timedOut), (e) => e === timedOut)
    await until(() => seen.length >= 2, 'down announced')
    // The server answers: the probe's PING brings the store back.
    await until(() => t.state === 'up', 'up after the probe answered')
    assert.deepEqual(seen, ['up', 'down', 'up'])
    t.close()
  })

  it('a throwing listener is logged and the others still hear the change', () => {
    const lines: string[] = []
    const logger = pino({}, new Writable({ write (c, _e, cb) { lines.push(String(c)); cb() } }))
    const t = new RedisStateTracker(client, sub, logger, 100)
    const seen: StoreState[] = []
    t.onStateChange(() => { throw new Error('listener bug') })
    t.onStateChange((s) => seen.push(s))
    t.setSubscribed(true)
    t.update()
    assert.deepEqual(seen, ['up'])
    assert.ok(lines.some((l) => l.includes('store state listener failed') && l.includes('listener bug')))
    t.close()
  })

  it('close: down announced once, then no listener is called again', () => {
    const t = new RedisStateTracker(client, sub, undefined, 100)
    const seen: StoreState[] = []
    t.onStateChange((s) => seen.push(s))
    t.setSubscribed(true)
    t.update()
    assert.equal(t.close(), true)
    assert.equal(t.close(), false)
    t.update()
    assert.equal(t.state, 'down')
    assert.equal(t.closing, true)
    assert.deepEqual(seen, ['up', 'down'])
  })
})

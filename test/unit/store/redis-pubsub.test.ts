// Unit tests of the Redis store's subscriptions against a real redis-server: dispatch, last-handler unsubscribe, resubscription.
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import type { Redis } from 'ioredis'
import { RedisSubscriptions } from '../../../src/store/redis-pubsub.js'
import { RedisStateTracker } from '../../../src/store/redis-state.js'
import { hasRedis, startRedis, type TestRedis } from '../../helpers/redis.js'
import { connection, ready, until } from './redis-parts.js'

describe('RedisSubscriptions', { skip: !hasRedis() && 'no redis-server' }, () => {
  let server: TestRedis
  let client: Redis
  before(async () => {
    server = await startRedis()
    client = await ready(connection(server.url))
  })
  after(async () => {
    client?.disconnect()
    await server?.close()
  })
  const subscribers = async (channel: string): Promise<number> => Number((await client.pubsub('NUMSUB', channel))[1])

  it('dispatches to every handler of a channel; the last handler leaving unsubscribes', async () => {
    const sub = await ready(connection(server.url))
    const tracker = new RedisStateTracker(client, sub, undefined, 100)
    const subs = new RedisSubscriptions(sub, tracker)
    sub.on('message', (ch: string, m: string) => subs.dispatch(ch, m))
    const a: string[] = []
    const b: string[] = []
    const offA = await subs.subscribe('ch1', (m) => a.push(m))
    const offB = await subs.subscribe('ch1', (m) => b.push(m))
    assert.equal(await subscribers('ch1'), 1, 'one server subscription per channel')
    await client.publish('ch1', 'one')
    await until(() => a.length === 1 && b.length === 1, 'both handlers')
    await offA()
    assert.equal(await subscribers('ch1'), 1)
    await client.publish('ch1', 'two')
    await until(() => b.length === 2, 'remaining handler')
    assert.deepEqual(a, ['one'])
    await offB()
    assert.equal(await subscribers('ch1'), 0)
    tracker.close()
    sub.disconnect()
  })

  it('channels added while disconnected are subscribed on resubscribe, and only then is the store up', async () => {
    const sub = connection(server.url, true)
    const tracker = new RedisStateTracker(client, sub, undefined, 100)
    const subs = new RedisSubscriptions(sub, tracker)
    const got: string[] = []
    sub.on('message', (ch: string, m: string) => subs.dispatch(ch, m))
    await subs.subscribe('ch2', (m) => got.push(m))
    assert.equal(await subscribers('ch2'), 0, 'not connected: nothing subscribed yet')
    sub.on('ready', () => subs.resubscribe())
    await sub.connect()
    await until(() => tracker.state === 'up', 'up after resubscribing')
    assert.equal(await subscribers('ch2'), 1)
    await client.publish('ch2', 'hello')
    await until(() => got.length === 1, 'message after resubscribe')
    tracker.close()
    sub.disconnect()
  })
})

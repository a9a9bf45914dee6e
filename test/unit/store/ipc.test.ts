// The workers' IPC store: several workers on one host share state; timeouts, bounds and a dead channel mean `down`.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IpcStore } from '../../../src/store/ipc.js'
import { StoreHost } from '../../../src/store/ipc-host.js'
import { createMemoryStore } from '../../../src/store/memory.js'
import type { StoreState } from '../../../src/store/types.js'
import { ipcPair, type IpcPair } from '../../helpers/ipc-pair.js'
import { until } from '../../helpers/poll.js'

function cluster (workers: number, commandTimeoutMs = 5000, ackTimeoutMs = 2000): { host: StoreHost, pairs: IpcPair[], stores: IpcStore[], detach: Array<() => Promise<void>> } {
  const host = new StoreHost(createMemoryStore(), { ackTimeoutMs })
  const pairs = Array.from({ length: workers }, () => ipcPair())
  const detach = pairs.map((p) => host.attach(p.primary))
  const stores = pairs.map((p) => new IpcStore({ channel: p.worker, commandTimeoutMs, maxPending: 3 }))
  return { host, pairs, stores, detach }
}

describe('IPC store', () => {
  it('is one store for every worker: a value set by one is read by the other', async () => {
    const { stores: [a, b] } = cluster(2)
    await a!.set('rev:user:alice', '{"x":1}', 10_000)
    assert.equal(await b!.get('rev:user:alice'), '{"x":1}')
    assert.deepEqual(await b!.list('rev:'), [['rev:user:alice', '{"x":1}']])
    assert.equal(await b!.take('rev:user:alice'), '{"x":1}')
    assert.equal(await a!.get('rev:user:alice'), undefined)
  })

  it('publishes to every worker subscribed, the publisher included', async () => {
    const { stores: [a, b, c] } = cluster(3)
    const got: Record<string, string[]> = { a: [], b: [], c: [] }
    await a!.subscribe('revocations', (m) => got.a!.push(m))
    await b!.subscribe('revocations', (m) => got.b!.push(m))
    await b!.subscribe('revocations', (m) => got.b!.push('again:' + m))
    await c!.subscribe('other', (m) => got.c!.push(m))
    await a!.publish('revocations', 'bob')
    await until('delivered', () => got.a!.length === 1 && got.b!.length === 2)
    assert.deepEqual(got, { a: ['bob'], b: ['bob', 'again:bob'], c: [] })
  })

  it('answers a publish once every subscribed worker has handled the message', async () => {
    const { stores: [a, b, c] } = cluster(3)
    const seen: string[] = []
    await b!.subscribe('revocations', (m) => seen.push('b:' + m))
    await c!.subscribe('revocations', (m) => seen.push('c:' + m))
    await a!.publish('revocations', 'alice')
    assert.deepEqual(seen.sort(), ['b:alice', 'c:alice'], 'handled before the publish returned')
  })

  it('does not let a worker that does not acknowledge hold a publish beyond the ack timeout', async () => {
    const { pairs, stores: [a, b] } = cluster(2, 5000, 30)
    const seen: string[] = []
    await b!.subscribe('ch', (m) => seen.push(m))
    pairs[1]!.stallPrimary(true) // b's acknowledgements do not reach the primary
    await a!.publish('ch', 'm')
    await until('b handled it anyway', () => seen.length === 1)
    pairs[1]!.stallPrimary(false)
  })

  it('keeps one rate-limit bucket: leases from two workers never grant more than the burst', async () => {
    const { stores: [a, b] } = cluster(2)
    const policy = { ratePerSecond: 0.001, burst: 10, ttlMs: 60_000 }
    const grants = await Promise.all([a, b, a, b, a, b].map((s) => s!.lease([{ key: 'u', want: 3 }], policy)))
    assert.equal(grants.reduce((n, [g]) => n + g!.granted, 0), 10)
    assert.equal(await a!.heartbeat('replicas', 'wa', 10_000), 1)
    assert.equal(await b!.heartbeat('replicas', 'wb', 10_000), 2, 'each worker is a member of the replica count')
  })

  it('reports errors of the primary store as rejections, and stays up', async () => {
    const { stores: [a] } = cluster(1)
    await assert.rejects(a!.set('k', 'v', 0), /ttlMs must be a positive number/)
    assert.equal(a!.state, 'up')
  })

  it('goes down when the primary does not answer in time, and up (resubscribed) at its next answer', async () => {
    const { pairs: [p], stores: [a] } = cluster(1, 50)
    const states: StoreState[] = []
    a!.onStateChange((s) => states.push(s))
    p!.stallPrimary(true)
    const got: string[] = []
    const sub = a!.subscribe('ch', (m) => got.push(m))
    await assert.rejects(sub, /did not answer subscribe/)
    assert.equal(a!.state, 'down')
    p!.stallPrimary(false)
    await until('up again', () => a!.state === 'up')
    assert.deepEqual(states, ['down', 'up'])
    // The subscription made while the primary stalled is in place now.
    await until('resubscribed', async () => {
      await a!.publish('ch', 'm')
      return got.length > 0
    })
  })

  it('bounds the operations waiting for the primary', async () => {
    const { pairs: [p], stores: [a] } = cluster(1)
    p!.stallPrimary(true)
    const waiting = [a!.get('1'), a!.get('2'), a!.get('3')]
    assert.equal(a!.pending, 3)
    await assert.rejects(a!.get('4'), /3 operations already wait/)
    p!.stallPrimary(false)
    assert.deepEqual(await Promise.all(waiting), [undefined, undefined, undefined])
    assert.equal(a!.pending, 0)
  })

  it('fails at once and goes down when the channel to the primary is gone', async () => {
    const { pairs: [p], stores: [a] } = cluster(1)
    p!.close()
    await assert.rejects(a!.get('k'), /channel closed/)
    assert.equal(a!.state, 'down')
  })

  it('ends a detached worker\'s subscriptions', async () => {
    const { stores: [a, b], detach } = cluster(2)
    const got: string[] = []
    await a!.subscribe('ch', (m) => got.push('a:' + m))
    await b!.subscribe('ch', (m) => got.push('b:' + m))
    await detach[0]!()
    await b!.publish('ch', 'x')
    await until('b got it', () => got.includes('b:x'))
    assert.deepEqual(got, ['b:x'])
  })

  it('rejects what is pending on close and refuses operations after it', async () => {
    const { pairs: [p], stores: [a] } = cluster(1)
    p!.stallPrimary(true)
    const waiting = a!.get('k')
    await a!.close()
    await assert.rejects(waiting, /store closed/)
    await assert.rejects(a!.get('k'), /store closed/)
    assert.equal(a!.state, 'down')
  })
})

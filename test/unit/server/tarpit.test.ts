// Unit tests for src/server/tarpit.ts: held answers, the bound, and clients that leave while held.
import assert from 'node:assert/strict'
import { EventEmitter } from 'node:events'
import { afterEach, beforeEach, describe, it, mock } from 'node:test'
import { buildTarpit, Tarpit } from '../../../src/server/tarpit.js'

describe('Tarpit', () => {
  beforeEach(() => { mock.timers.enable({ apis: ['setTimeout'] }) })
  afterEach(() => { mock.timers.reset() })

  it('answers after the delay, not before', () => {
    const t = new Tarpit({ delayMs: 1000, maxHeld: 10 })
    const answered: number[] = []
    t.hold(new EventEmitter(), () => answered.push(1))
    assert.equal(t.held, 1)
    mock.timers.tick(999)
    assert.deepEqual(answered, [])
    mock.timers.tick(1)
    assert.deepEqual(answered, [1])
    assert.equal(t.held, 0)
  })

  it('answers at once when maxHeld answers are already held', () => {
    const t = new Tarpit({ delayMs: 1000, maxHeld: 2 })
    const answered: string[] = []
    t.hold(new EventEmitter(), () => answered.push('a'))
    t.hold(new EventEmitter(), () => answered.push('b'))
    t.hold(new EventEmitter(), () => answered.push('c'))
    assert.deepEqual(answered, ['c'])
    assert.equal(t.held, 2)
    mock.timers.tick(1000)
    assert.deepEqual(answered, ['c', 'a', 'b'])
  })

  it('forgets a client that closes while held: never answered, its place freed, no listener left', () => {
    const t = new Tarpit({ delayMs: 1000, maxHeld: 1 })
    const conn = new EventEmitter()
    let answered = false
    t.hold(conn, () => { answered = true })
    conn.emit('close')
    assert.equal(t.held, 0)
    assert.equal(conn.listenerCount('close'), 0)
    mock.timers.tick(5000)
    assert.equal(answered, false)
    let next = false
    t.hold(new EventEmitter(), () => { next = true })
    assert.equal(t.held, 1, 'the freed place is used again')
    mock.timers.tick(1000)
    assert.equal(next, true)
  })

  it('removes its close listener once it has answered', () => {
    const t = new Tarpit({ delayMs: 10, maxHeld: 1 })
    const conn = new EventEmitter()
    t.hold(conn, () => {})
    mock.timers.tick(10)
    assert.equal(conn.listenerCount('close'), 0)
  })
})

describe('buildTarpit', () => {
  it('is off with a delay of 0, else holds for the configured seconds', () => {
    assert.equal(buildTarpit({ tarpitSeconds: 0, maxTarpitted: 5 }), undefined)
    assert.ok(buildTarpit({ tarpitSeconds: 1, maxTarpitted: 5 }) instanceof Tarpit)
  })
})

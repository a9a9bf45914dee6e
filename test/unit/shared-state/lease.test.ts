// A rate-limit lease: spending, credit, asking for a top-up and settling the store's answer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { Lease, LEASE_CREDIT, leaseSize } from '../../../src/shared-state/lease.js'

describe('lease', () => {
  it('is small: ceil(burst / 20), between 2 and 10', () => {
    assert.deepEqual([1, 20, 40, 41, 100, 300, 10_000].map(leaseSize), [2, 2, 2, 3, 5, 10, 10])
  })

  it('admits once on credit before any grant, then asks for the credit back plus a full lease', () => {
    const l = new Lease()
    assert.equal(l.take(), true, 'credit')
    assert.equal(LEASE_CREDIT, 1)
    assert.equal(l.take(), false, 'the credit is used up')
    assert.equal(l.owes, true)
    assert.equal(l.needsTopUp(4), true)
    assert.equal(l.ask(4), 5)
    assert.equal(l.asking, true)
    assert.equal(l.needsTopUp(4), false, 'one ask at a time')
    l.settle(5, 10)
    assert.equal(l.tokens, 4)
    assert.equal(l.knownEmpty, false)
    for (let i = 0; i < 4; i++) assert.equal(l.take(), true)
    assert.equal(l.tokens, 0)
  })

  it('asks when down to half a lease, and never holds more than a lease', () => {
    const l = new Lease()
    l.ask(4)
    l.settle(4, 100)
    assert.equal(l.needsTopUp(4), false)
    l.take()
    assert.equal(l.needsTopUp(4), false, '3 left')
    l.take()
    assert.equal(l.needsTopUp(4), true, '2 left: half')
    assert.equal(l.ask(4), 2)
    l.take()
    l.take() // spent while the answer was on its way
    l.settle(2, 100)
    assert.equal(l.tokens, 2, 'what was asked for, on top of what is left')
  })

  it('no credit once the store said the bucket is empty, until a grant fills the lease again', () => {
    const l = new Lease()
    l.ask(2)
    l.settle(1, 0.4)
    assert.equal(l.knownEmpty, true)
    assert.equal(l.take(), true, 'the granted token')
    assert.equal(l.take(), false, 'no credit: the bucket is known empty')
    assert.equal(l.retryAfter(0.5), 2, '0.6 tokens short at 0.5/s')
    l.ask(2)
    l.settle(2, 3)
    assert.equal(l.knownEmpty, false)
    assert.equal(l.take(), true)
  })

  it('local-share admissions are charged with the next ask, again after a failed one, and owed until then', () => {
    const l = new Lease()
    l.ask(2)
    l.settle(2, 10)
    assert.equal(l.spendHeld(), true)
    assert.equal(l.spendHeld(), true)
    assert.equal(l.spendHeld(), false, 'no credit on the share')
    l.admittedLocally()
    l.admittedLocally()
    assert.equal(l.owes, true, 'kept while owing (never evicted)')
    assert.equal(l.needsTopUp(10), true)
    assert.equal(l.ask(10), 10)
    assert.equal(l.charge(), 2)
    assert.equal(l.uncharged, 2)
    l.admittedLocally()
    l.abandon()
    assert.equal(l.uncharged, 3, 'the failed charge is sent again')
    l.ask(10)
    assert.equal(l.charge(), 3)
    l.settle(0, -2.5)
    assert.equal(l.uncharged, 0)
    assert.equal(l.owes, false)
    assert.equal(l.knownEmpty, true, 'in debt')
    assert.equal(l.take(), false, 'no credit while the shared bucket is in debt')
    assert.equal(l.retryAfter(0.5), 7, '3.5 tokens short at 0.5/s')
  })

  it('a failed ask grants nothing and may be asked again', () => {
    const l = new Lease()
    l.take()
    l.ask(2)
    l.abandon()
    assert.equal(l.asking, false)
    assert.equal(l.tokens, -1)
    assert.equal(l.needsTopUp(2), true)
  })
})

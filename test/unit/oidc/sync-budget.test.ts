import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createSyncBudget } from '../../../src/oidc/sync-budget.js'

function clock (start = 1000): { now: () => number, advance: (ms: number) => void, set: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms }, set: (ms) => { t = ms } }
}

describe('sync budget (time-based token bucket)', () => {
  it('starts full: allows synchronous work up to the burst, then refuses until refilled', () => {
    const c = clock()
    const b = createSyncBudget({ share: 0.25, burstMs: 5, clock: c.now })
    assert.equal(b.available(), 5)
    let allowed = 0
    // 0.03 ms per verification with the clock standing still: 5 / 0.03 = 166.7 -> 167 (the last one goes into debt)
    for (let i = 0; i < 1000 && b.allow(); i++) {
      b.charge(0.03)
      allowed++
    }
    assert.equal(allowed, 167)
    assert.ok(b.available() <= 0)
    assert.equal(b.allow(), false)
  })

  it('refills at `share` ms per ms of wall-clock time, capped at the burst', () => {
    const c = clock()
    const b = createSyncBudget({ share: 0.25, burstMs: 5, clock: c.now })
    b.charge(5)
    assert.equal(b.available(), 0)
    assert.equal(b.allow(), false)
    c.advance(4) // 4 ms wall -> 1 ms of budget
    assert.equal(b.available(), 1)
    assert.equal(b.allow(), true)
    c.advance(1000)
    assert.equal(b.available(), 5, 'never more than the burst, however long idle')
  })

  it('debt from an expensive charge must be repaid before the next synchronous work', () => {
    const c = clock()
    const b = createSyncBudget({ share: 0.25, burstMs: 5, clock: c.now })
    assert.equal(b.allow(), true)
    b.charge(9) // one slow verification (e.g. a big key on a slow CPU): 4 ms of debt
    assert.equal(b.available(), -4)
    c.advance(15) // repays 3.75 ms
    assert.equal(b.allow(), false)
    c.advance(2) // 0.5 ms more -> +0.25 ms available
    assert.equal(b.allow(), true)
  })

  it('bounds the synchronous share of a long run to `share` (plus one burst)', () => {
    const c = clock(0)
    const b = createSyncBudget({ share: 0.25, burstMs: 5, clock: c.now })
    // A flood: every 0.01 ms a token arrives; synchronous ones take 0.03 ms and advance the clock with them.
    let syncMs = 0
    let end = 0
    for (let i = 0; i < 200_000; i++) {
      if (b.allow()) {
        c.advance(0.03)
        b.charge(0.03)
        syncMs += 0.03
      } else {
        c.advance(0.01)
      }
      end = c.now()
    }
    assert.ok(end > 1000, `ran ${end} ms`)
    assert.ok(syncMs <= end * 0.25 + 5 + 0.03, `sync ${syncMs.toFixed(2)} ms of ${end.toFixed(2)} ms`)
    assert.ok(syncMs >= end * 0.25 - 0.1, `budget used, not starved: sync ${syncMs.toFixed(2)} ms of ${end.toFixed(2)} ms`)
  })

  it('a failed piece of work is charged the failure penalty on top of its time', () => {
    const c = clock()
    const b = createSyncBudget({ share: 0.25, burstMs: 5, failurePenaltyMs: 1, clock: c.now })
    b.charge(0.03)
    assert.equal(b.available(), 4.97)
    b.charge(0.03, true)
    assert.ok(Math.abs(b.available() - 3.94) < 1e-9, String(b.available()))
    // A flood of failures empties a full bucket within a handful of checks...
    let n = 0
    while (b.allow() && n < 100) {
      b.charge(0.03, true)
      n++
    }
    assert.equal(n, 4)
    // ...and keeps it empty as long as failures arrive faster than share / penalty (250 per second here).
    for (let i = 0; i < 1000; i++) {
      c.advance(3) // one failure every 3 ms: 0.75 ms refilled, 1.03 ms charged
      if (b.allow()) b.charge(0.03, true)
    }
    assert.equal(b.allow(), false)
  })

  it('a clock going backwards refills nothing', () => {
    const c = clock(1000)
    const b = createSyncBudget({ share: 0.5, burstMs: 2, clock: c.now })
    b.charge(2)
    c.set(500)
    assert.equal(b.available(), 0)
    c.set(502) // 2 ms after the backwards step: +1 ms
    assert.equal(b.available(), 1)
  })

  it('share 0 or burst 0 never allows synchronous work', () => {
    const c = clock()
    assert.equal(createSyncBudget({ share: 0, burstMs: 5, clock: c.now }).allow(), false)
    assert.equal(createSyncBudget({ share: 0.25, burstMs: 0, clock: c.now }).allow(), false)
  })

  it('refuses nonsense parameters', () => {
    assert.throws(() => createSyncBudget({ share: 1.5, burstMs: 5 }), RangeError)
    assert.throws(() => createSyncBudget({ share: -0.1, burstMs: 5 }), RangeError)
    assert.throws(() => createSyncBudget({ share: Number.NaN, burstMs: 5 }), RangeError)
    assert.throws(() => createSyncBudget({ share: 0.25, burstMs: Number.POSITIVE_INFINITY }), RangeError)
    assert.throws(() => createSyncBudget({ share: 0.25, burstMs: 5, failurePenaltyMs: -1 }), RangeError)
  })

  it('defaults to a real monotonic clock', () => {
    const b = createSyncBudget({ share: 0.25, burstMs: 5 })
    const t0 = b.clock()
    assert.ok(b.clock() >= t0)
    assert.equal(b.allow(), true)
  })
})

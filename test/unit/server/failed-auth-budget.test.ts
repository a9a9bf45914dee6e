// Unit tests of the per-address failed-authentication budget (manual clock: no timing).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { KubegateError } from '../../../src/errors.js'
import { budgetKey, buildFailedAuthBudget, FailedAuthBudget, type BudgetTicket } from '../../../src/server/failed-auth-budget.js'

function setup (over: Partial<{ ratePerSecond: number, burst: number, maxAddresses: number }> = {}) {
  const clock = { t: 1_000_000 }
  let exhausted = 0
  const budget = new FailedAuthBudget({ ratePerSecond: 2, burst: 3, maxAddresses: 100, ...over, now: () => clock.t, onExhausted: () => { exhausted++ } })
  return { budget, clock, exhausted: () => exhausted }
}

function ticket (b: FailedAuthBudget, address: string): BudgetTicket {
  const t = b.admit(address)
  assert.ok(!(t instanceof KubegateError), `expected ${address} to be admitted`)
  return t
}

/** `n` verifications from `address` that each fail. */
function fail (b: FailedAuthBudget, address: string, n: number): void {
  for (let i = 0; i < n; i++) b.settle(ticket(b, address), true)
}

test('burst failures pass, the next is refused with 429, Retry-After and the failure label', () => {
  const { budget, exhausted } = setup()
  fail(budget, '192.0.2.1', 3)
  const r = budget.admit('192.0.2.1')
  assert.ok(r instanceof KubegateError)
  assert.equal(r.statusCode, 429)
  assert.equal(r.reason, 'TooManyRequests')
  assert.equal(r.failure, 'auth_failures_limited')
  assert.equal(r.retryAfter, 1)
  assert.equal(exhausted(), 1)
})

test('only refusals are charged: successes and 503s cost nothing', () => {
  const { budget } = setup()
  for (let i = 0; i < 50; i++) budget.settle(ticket(budget, '192.0.2.1'), false)
  fail(budget, '192.0.2.1', 3)
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError)
})

test('the bucket refills at the rate: one failure back per interval, never beyond the burst', () => {
  const { budget, clock } = setup()
  fail(budget, '192.0.2.1', 3)
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError)
  clock.t += 499
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError)
  clock.t += 1 // 500 ms at 2/s: one failure earned back
  fail(budget, '192.0.2.1', 1)
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError)
  clock.t += 3_600_000 // idle for an hour: a full burst again, not more
  fail(budget, '192.0.2.1', 3)
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError)
})

test('Retry-After says when the next failure is allowed, in whole seconds', () => {
  const { budget, clock } = setup({ ratePerSecond: 0.25, burst: 2 })
  fail(budget, '192.0.2.1', 2)
  const r = budget.admit('192.0.2.1')
  assert.ok(r instanceof KubegateError)
  assert.equal(r.retryAfter, 4)
  clock.t += 1500
  assert.equal((budget.admit('192.0.2.1') as KubegateError).retryAfter, 3)
  clock.t += 2500
  assert.ok(!(budget.admit('192.0.2.1') instanceof KubegateError))
})

test('verifications still running count against the budget: a concurrent burst cannot all start', () => {
  const { budget } = setup()
  const running = [ticket(budget, '192.0.2.1'), ticket(budget, '192.0.2.1'), ticket(budget, '192.0.2.1')]
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError, 'a fourth concurrent verification is refused')
  // They turn out valid: the budget is whole again.
  for (const t of running) budget.settle(t, false)
  fail(budget, '192.0.2.1', 3)
})

test('addresses are independent; IPv4-mapped is the IPv4 address; IPv6 is budgeted by its /64', () => {
  const { budget } = setup()
  fail(budget, '192.0.2.1', 3)
  assert.ok(budget.admit('::ffff:192.0.2.1') instanceof KubegateError)
  assert.ok(!(budget.admit('192.0.2.2') instanceof KubegateError))
  fail(budget, '2001:db8:1:2::1', 3)
  assert.ok(budget.admit('2001:db8:1:2:ffff:ffff:ffff:ffff') instanceof KubegateError, 'same /64')
  assert.ok(!(budget.admit('2001:db8:1:3::1') instanceof KubegateError), 'another /64')
})

test('budgetKey', () => {
  assert.equal(budgetKey('10.1.2.3'), '10.1.2.3')
  assert.equal(budgetKey('::ffff:10.1.2.3'), '10.1.2.3')
  assert.equal(budgetKey('2001:DB8::1'), '2001:db8:0:0')
  assert.equal(budgetKey('2001:0db8:0000:0001:0:0:0:1'), '2001:db8:0:1')
  assert.equal(budgetKey('fe80::1%eth0'), 'fe80:0:0:0')
  assert.equal(budgetKey('::1'), '0:0:0:0')
  assert.equal(budgetKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0')
  assert.equal(budgetKey('not an address'), undefined)
})

test('the table is bounded: the least recently charged address is forgotten (and starts afresh)', () => {
  const { budget } = setup({ maxAddresses: 2 })
  fail(budget, '192.0.2.1', 3)
  fail(budget, '192.0.2.2', 3)
  assert.equal(budget.size, 2)
  fail(budget, '192.0.2.1', 0)
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError) // looked up, not charged: order unchanged
  budget.admit('192.0.2.3') // a third address evicts the oldest, 192.0.2.1
  assert.equal(budget.size, 2)
  assert.ok(!(budget.admit('192.0.2.1') instanceof KubegateError), 'forgotten: a fresh burst')
  assert.ok(budget.size <= 2)
})

test('a charge moves the address to the end of the eviction order', () => {
  const { budget, clock } = setup({ maxAddresses: 2 })
  fail(budget, '192.0.2.1', 3)
  fail(budget, '192.0.2.2', 3)
  clock.t += 500
  fail(budget, '192.0.2.1', 1) // 192.0.2.2 is now the least recently charged
  budget.admit('192.0.2.3')
  assert.ok(budget.admit('192.0.2.1') instanceof KubegateError, 'kept')
})

test('a rate or burst of 0 turns the budget off; invalid sizes are refused', () => {
  assert.equal(buildFailedAuthBudget({ ratePerSecond: 0, burst: 100, maxAddresses: 10 }), undefined)
  assert.equal(buildFailedAuthBudget({ ratePerSecond: 10, burst: 0, maxAddresses: 10 }), undefined)
  assert.ok(buildFailedAuthBudget({ ratePerSecond: 10, burst: 100, maxAddresses: 10 }) instanceof FailedAuthBudget)
  assert.throws(() => new FailedAuthBudget({ ratePerSecond: 1, burst: 1, maxAddresses: 0 }), RangeError)
})

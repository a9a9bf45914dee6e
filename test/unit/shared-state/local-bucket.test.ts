// The local token bucket: burst, refill, a capacity that changes with the replica count, Retry-After.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LocalBucket } from '../../../src/shared-state/local-bucket.js'

describe('local bucket', () => {
  it('starts full, refills at the rate, never above the capacity', () => {
    const b = new LocalBucket(3, 0)
    for (let i = 0; i < 3; i++) assert.equal(b.take(0, 3, 2), true)
    assert.equal(b.take(0, 3, 2), false)
    assert.equal(b.retryAfter(2), 1)
    assert.equal(b.take(499, 3, 2), false, '0.998 tokens')
    assert.equal(b.take(500, 3, 2), true, 'one token in 0.5 s at 2/s')
    assert.equal(b.take(100_000, 3, 2) && b.take(100_000, 3, 2) && b.take(100_000, 3, 2), true)
    assert.equal(b.take(100_000, 3, 2), false, 'capped at 3')
  })

  it('a smaller capacity (more replicas) applies at once', () => {
    const b = new LocalBucket(10, 0)
    assert.equal(b.take(0, 2, 1), true)
    assert.equal(b.take(0, 2, 1), true)
    assert.equal(b.take(0, 2, 1), false)
    assert.equal(b.retryAfter(0.25), 4)
  })
})

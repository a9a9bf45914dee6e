// Unit tests: the SubjectAccessReview answer cache (allowed and denied apart, bounded, single flight, eviction by user).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createDecisionCache } from '../../../src/authz/decision-cache.js'
import { KubegateError } from '../../../src/errors.js'
import type { Authorize, Subject } from '../../../src/impersonation/decide.js'
import type { ResourceAttributes } from '../../../src/k8s/forbidden.js'

const alice: Subject = { user: 'alice', groups: ['system:authenticated'], uid: undefined, extra: undefined }
const bobAttrs: ResourceAttributes = { verb: 'impersonate', group: '', version: '', resource: 'users', subresource: '', namespace: '', name: 'bob' }
const carolAttrs: ResourceAttributes = { ...bobAttrs, name: 'carol' }

function counting (decide: (a: ResourceAttributes) => boolean): { authorize: Authorize, calls: () => number } {
  let n = 0
  return {
    authorize: async (_s, a) => {
      n++
      return { allowed: decide(a), reason: '' }
    },
    calls: () => n,
  }
}

describe('createDecisionCache', () => {
  it('reuses allowed and denied answers for their own lifetimes', async () => {
    let t = 1_000_000
    const src = counting((a) => a.name === 'bob')
    const results: string[] = []
    const c = createDecisionCache({ authorize: src.authorize, allowedTtlSeconds: 10, deniedTtlSeconds: 2, maxEntries: 100, now: () => t, onReview: (r) => results.push(r) })
    assert.equal((await c.authorize(alice, bobAttrs)).allowed, true)
    assert.equal((await c.authorize(alice, carolAttrs)).allowed, false)
    assert.equal((await c.authorize(alice, bobAttrs)).allowed, true)
    assert.equal((await c.authorize(alice, carolAttrs)).allowed, false)
    assert.equal(src.calls(), 2)
    t += 3000
    await c.authorize(alice, bobAttrs)
    await c.authorize(alice, carolAttrs)
    assert.equal(src.calls(), 3, 'the denied answer expired, the allowed one not')
    t += 8000
    await c.authorize(alice, bobAttrs)
    assert.equal(src.calls(), 4)
    assert.deepEqual(results, ['allowed', 'denied', 'denied', 'allowed'])
  })

  it('the key is the whole subject: other groups, uid or extras ask again', async () => {
    const src = counting(() => true)
    const c = createDecisionCache({ authorize: src.authorize, allowedTtlSeconds: 10, deniedTtlSeconds: 10, maxEntries: 100 })
    await c.authorize(alice, bobAttrs)
    await c.authorize({ ...alice, groups: ['system:authenticated', 'admins'] }, bobAttrs)
    await c.authorize({ ...alice, uid: 'u' }, bobAttrs)
    await c.authorize({ ...alice, extra: { k: ['v'] } }, bobAttrs)
    assert.equal(src.calls(), 4)
  })

  it('single flight: concurrent identical questions share one review', async () => {
    let release: () => void = () => {}
    let n = 0
    const gate = new Promise<void>((resolve) => { release = resolve })
    const c = createDecisionCache({
      authorize: async () => { n++; await gate; return { allowed: true, reason: '' } },
      allowedTtlSeconds: 10, deniedTtlSeconds: 10, maxEntries: 100,
    })
    const all = Promise.all(Array.from({ length: 20 }, async () => await c.authorize(alice, bobAttrs)))
    release()
    assert.equal((await all).length, 20)
    assert.equal(n, 1)
  })

  it('errors are not cached; eviction by user forgets that user\'s answers only; the size is bounded', async () => {
    let fail = true
    const c = createDecisionCache({
      authorize: async (_s, a) => {
        if (fail) throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE')
        return { allowed: a.name !== 'x', reason: '' }
      },
      allowedTtlSeconds: 10, deniedTtlSeconds: 10, maxEntries: 3,
    })
    await assert.rejects(c.authorize(alice, bobAttrs), { code: 'KG_ERR_REVIEW_UNAVAILABLE' })
    fail = false
    assert.equal((await c.authorize(alice, bobAttrs)).allowed, true)
    await c.authorize({ ...alice, user: 'dave' }, bobAttrs)
    assert.equal(c.evictUser('alice'), 1)
    assert.equal(c.size, 1)
    for (const name of ['a', 'b', 'c', 'd', 'e']) await c.authorize(alice, { ...bobAttrs, name })
    assert.equal(c.size, 3)
  })

  it('ttl 0 caches nothing', async () => {
    const src = counting(() => true)
    const c = createDecisionCache({ authorize: src.authorize, allowedTtlSeconds: 0, deniedTtlSeconds: 0, maxEntries: 100 })
    await c.authorize(alice, bobAttrs)
    await c.authorize(alice, bobAttrs)
    assert.equal(src.calls(), 2)
  })
})

// Unit tests: the SubjectAccessReview request object and how its answer is read.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { readDecision, subjectAccessReview } from '../../../src/authz/subject-access-review.js'
import { KubegateError } from '../../../src/errors.js'

describe('subjectAccessReview', () => {
  it('carries the subject and the attributes, empty ones omitted', () => {
    const body = subjectAccessReview(
      { user: 'alice', groups: ['g', 'system:authenticated'], uid: 'u', extra: { k: ['v'] } },
      { verb: 'impersonate', group: 'authentication.k8s.io', version: 'v1', resource: 'userextras', subresource: 'scopes', namespace: '', name: 'view' })
    assert.deepEqual(body, {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SubjectAccessReview',
      spec: {
        resourceAttributes: { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', version: 'v1', subresource: 'scopes', name: 'view' },
        user: 'alice', groups: ['g', 'system:authenticated'], uid: 'u', extra: { k: ['v'] },
      },
    })
  })
})

describe('readDecision', () => {
  it('allowed only on allowed: true without denied', () => {
    assert.deepEqual(readDecision({ status: { allowed: true, reason: 'RBAC: ok' } }), { allowed: true, reason: 'RBAC: ok' })
    assert.deepEqual(readDecision({ status: { allowed: false } }), { allowed: false, reason: '' })
    assert.deepEqual(readDecision({ status: { allowed: true, denied: true, reason: 'r' } }), { allowed: false, reason: 'r' })
    assert.deepEqual(readDecision({ status: { allowed: false, denied: true, evaluationError: 'e' } }), { allowed: false, reason: '' })
  })
  it('no status, or no decision with an evaluation error: an error (fail closed), not a denial', () => {
    for (const answer of [null, {}, { status: 'x' }, { status: { allowed: false, evaluationError: 'webhook down' } }]) {
      assert.throws(() => readDecision(answer), (e: unknown) => e instanceof KubegateError && e.code === 'KG_ERR_REVIEW_UNAVAILABLE')
    }
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ERRORS, isKubegateError, KubegateError, toKubegateError, type ErrorCode } from '../../src/errors.js'

describe('KubegateError', () => {
  it('carries code, status, reason and the fixed public message; detail stays out of the message', () => {
    const e = new KubegateError('KG_ERR_BAD_TOKEN', 'kid abc not found in eyJhbGciOi', { failure: 'unknown_kid', retryAfter: 3 })
    assert.equal(e.code, 'KG_ERR_BAD_TOKEN')
    assert.equal(e.statusCode, 401)
    assert.equal(e.reason, 'Unauthorized')
    assert.equal(e.message, 'Unauthorized')
    assert.equal(e.detail, 'kid abc not found in eyJhbGciOi')
    assert.equal(e.failure, 'unknown_kid')
    assert.equal(e.retryAfter, 3)
    assert.equal(e.name, 'KubegateError')
    assert.ok(!e.message.includes('eyJ'))
  })

  it('keeps the cause', () => {
    const cause = new Error('ECONNRESET')
    const e = new KubegateError('KG_ERR_UPSTREAM_UNAVAILABLE', undefined, { cause })
    assert.equal(e.cause, cause)
    assert.equal(e.statusCode, 502)
  })

  it('every code has an HTTP status in 400..599, a reason and a non-empty message', () => {
    for (const code of Object.keys(ERRORS) as ErrorCode[]) {
      const e = new KubegateError(code)
      assert.ok(e.statusCode >= 400 && e.statusCode <= 599, code)
      assert.ok(e.reason.length > 0, code)
      assert.ok(e.message.length > 0, code)
    }
  })

  it('expired tokens are 401, not 403 (credential plugins refresh only after a 401)', () => {
    assert.equal(ERRORS.KG_ERR_TOKEN_EXPIRED.status, 401)
    assert.equal(ERRORS.KG_ERR_IDENTITY_HEADERS.status, 403)
  })

  it('a bearer subprotocol the apiserver would not authenticate is 401 Unauthorized, as any failed token', () => {
    assert.deepEqual(ERRORS.KG_ERR_BAD_SUBPROTOCOL, ERRORS.KG_ERR_BAD_TOKEN)
  })
})

describe('toKubegateError / isKubegateError', () => {
  it('passes KubegateErrors through unchanged', () => {
    const e = new KubegateError('KG_ERR_NO_TOKEN')
    assert.equal(toKubegateError(e), e)
    assert.equal(isKubegateError(e), true)
  })

  it('wraps anything else as KG_ERR_INTERNAL with a generic message', () => {
    const raw = new Error('secret detail Bearer eyJxyz')
    const e = toKubegateError(raw)
    assert.equal(e.code, 'KG_ERR_INTERNAL')
    assert.equal(e.statusCode, 500)
    assert.equal(e.message, 'internal error')
    assert.equal(e.cause, raw)
    assert.equal(isKubegateError(raw), false)
    assert.equal(toKubegateError('boom').detail, 'boom')
  })
})

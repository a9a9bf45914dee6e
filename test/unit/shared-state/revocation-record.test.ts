// Revocation records: validation, the stored form, what they cover and when new tokens are accepted.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  acceptsTokensIssuedAfter, covers, parseRecord, storeKey, validateRevocationInput, type Revocation,
} from '../../../src/shared-state/revocation-record.js'

const T = 1_700_000_000_250
const identity = (iat: number | undefined) => ({ user: 'alice', groups: [], uid: undefined, sub: 'S', exp: 0, iat })

describe('revocation record', () => {
  it('accepts tokens issued after revokedAt + skew, and says so; a token revocation says nothing', () => {
    const r: Revocation = { kind: 'user', value: 'alice', revokedAt: T, expiresAt: T + 1, by: 'a' }
    const after = acceptsTokensIssuedAfter(r, 60_000) as number
    assert.equal(after, T + 60_000)
    assert.equal(covers(r, identity(Math.floor(after / 1000)), 'h', 60_000), true)
    assert.equal(covers(r, identity(Math.floor(after / 1000) + 1), 'h', 60_000), false)
    assert.equal(acceptsTokensIssuedAfter({ ...r, kind: 'token', value: 'x'.repeat(43) }, 60_000), undefined)
  })

  it('round-trips through the store text; malformed records are refused', () => {
    const r: Revocation = { kind: 'sub', value: 'S', revokedAt: T, expiresAt: T + 1, by: 'a', reason: 'why' }
    assert.deepEqual(parseRecord(JSON.stringify(r)), r)
    for (const bad of ['{', 'null', JSON.stringify({ ...r, kind: 'group' }), JSON.stringify({ ...r, revokedAt: 'x' })]) {
      assert.equal(parseRecord(bad), undefined, bad)
    }
    assert.match(storeKey('user', 'a'), /^rev:user:[A-Za-z0-9_-]{43}$/)
    assert.equal(validateRevocationInput('user', 'a\nb', undefined), 'value must not contain control characters')
  })
})

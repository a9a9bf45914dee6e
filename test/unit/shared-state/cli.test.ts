// What `kubegate revoke` prints: the revocation time and when a new token is accepted again.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { describeRevocation } from '../../../src/shared-state/cli.js'

describe('kubegate revoke output', () => {
  it('a user or sub: refused up to the revocation plus the skew, accepted after, sign in again after that time', () => {
    const text = describeRevocation({
      kind: 'user', value: 'user01@example.com', by: 'admin',
      revokedAt: '2026-12-03T08:00:00.250Z', acceptsTokensIssuedAfter: '2026-12-03T08:01:00.250Z', expiresAt: '2026-12-04T08:02:00.250Z',
    })
    assert.equal(text, 'revoked user user01@example.com at 2026-12-03T08:00:00.250Z: tokens issued up to 2026-12-03T08:01:00.250Z are refused, ' +
      'a token issued after 2026-12-03T08:01:00.250Z is accepted (sign in again after 2026-12-03T08:01:00.250Z); ' +
      'the revocation is kept until 2026-12-04T08:02:00.250Z')
    assert.doesNotMatch(text, /issued before 2026-12-03T08:00:00/, 'never the old, untrue promise')
  })

  it('a single token: only that token', () => {
    const text = describeRevocation({ kind: 'token', value: 'x'.repeat(43), by: 'a', revokedAt: '2026-12-03T08:00:00.000Z', expiresAt: '2026-12-04T08:00:00.000Z' })
    assert.equal(text, `revoked token ${'x'.repeat(43)} at 2026-12-03T08:00:00.000Z: that token is refused; the revocation is kept until 2026-12-04T08:00:00.000Z`)
  })

  it('a server that does not say when tokens are accepted: no time is promised', () => {
    const text = describeRevocation({ kind: 'sub', value: 'S', by: 'a', revokedAt: '2026-12-03T08:00:00.000Z', expiresAt: '2026-12-04T08:00:00.000Z' })
    assert.match(text, /tokens issued up to that time plus the server's allowed clock skew are refused/)
  })
})

// The upstream header list: client headers as scanned, kubegate's credential, X-Forwarded-For and Audit-ID.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { buildImpersonationHeaders } from '../../../src/impersonation/headers.js'
import { scanClientHeaders } from '../../../src/impersonation/client-headers.js'
import { addUpstreamCredential, buildUpstreamHeaders } from '../../../src/server/upstream-headers.js'
import type { TokenSource } from '../../../src/upstream/token-source.js'

const sa: TokenSource = { header: 'Bearer kubegate-sa', reload: async () => false, close: () => {} }
const identity = { user: 'alice@example.com', groups: ['a', 'b'], uid: undefined, sub: 's', exp: 2_000_000_000, iat: undefined }
const alice: Authenticated = { identity, headers: buildImpersonationHeaders(identity), tokenHash: 'h', keyId: undefined }

describe('upstream headers', () => {
  it('the credential is kubegate\'s token, then the identity\'s Impersonate-* lines', () => {
    const h: string[] = []
    addUpstreamCredential(h, alice, sa)
    assert.deepEqual(h, ['Authorization', 'Bearer kubegate-sa', ...alice.headers])
  })

  it('client credentials never pass; kubegate\'s lines come after the client\'s headers', () => {
    const scan = scanClientHeaders(['Accept', 'application/json', 'Authorization', 'Bearer client', 'Impersonate-User', 'root',
      'X-Forwarded-For', '1.2.3.4', 'Audit-ID', 'forged'])
    const h = buildUpstreamHeaders(scan, alice, sa, '10.0.0.1', 'req-1')
    const pairs: Array<[string, string]> = []
    for (let i = 0; i < h.length; i += 2) pairs.push([(h[i] as string).toLowerCase(), h[i + 1] as string])
    const valuesOf = (name: string): string[] => pairs.filter(([n]) => n === name).map(([, v]) => v)
    assert.deepEqual(pairs[0], ['accept', 'application/json'])
    assert.deepEqual(valuesOf('authorization'), ['Bearer kubegate-sa'])
    assert.deepEqual(valuesOf('impersonate-user'), ['alice@example.com'])
    assert.deepEqual(valuesOf('impersonate-group'), ['a', 'b'])
    assert.deepEqual(valuesOf('x-forwarded-for'), ['10.0.0.1'])
    assert.deepEqual(h.slice(-4), ['X-Forwarded-For', '10.0.0.1', 'Audit-ID', 'req-1'])
    assert.ok(!h.includes('forged') && !h.includes('Bearer client') && !h.includes('root'))
  })
})

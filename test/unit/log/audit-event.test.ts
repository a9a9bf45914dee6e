// Unit tests: the audit event's identity fields, named as the apiserver names them (user, impersonatedUser).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { auditEvent } from '../../../src/log/audit.js'
import type { AccessRecord } from '../../../src/log/access-record.js'

const base: AccessRecord = {
  requestId: 'r-1', method: 'GET', uri: '/api/v1/namespaces/user01/pods', user: 'instructor@example.com', groups: ['instructors'],
  verb: 'list', resource: 'pods', subresource: '', namespace: 'user01', name: '', status: 200, bytes: 10, durationMs: 1,
  upstreamMs: 0.5, remoteAddress: '127.0.0.1', userAgent: undefined, upgrade: undefined, failure: undefined,
}

describe('auditEvent identities', () => {
  it('without impersonation: user only, no impersonatedUser key', () => {
    const ev = auditEvent(base, Date.now())
    assert.deepEqual(ev.user, { username: 'instructor@example.com', groups: ['instructors'] })
    assert.equal('impersonatedUser' in ev, false)
  })
  it('with nested impersonation: user is who authenticated, impersonatedUser whom the request ran as', () => {
    const ev = auditEvent({ ...base, impersonatedUser: 'user01@example.com', impersonatedGroups: ['students', 'system:authenticated'] }, Date.now())
    assert.deepEqual(ev.user, { username: 'instructor@example.com', groups: ['instructors'] })
    assert.deepEqual(ev.impersonatedUser, { username: 'user01@example.com', groups: ['students', 'system:authenticated'] })
  })
})

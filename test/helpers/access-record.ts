// Test helper: an AccessRecord of a plain `kubectl get pods` that each test overrides where it matters.
import type { AccessRecord } from '../../src/log/access-record.js'

export function accessRecord (over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    requestId: 'r1', method: 'GET', uri: '/api/v1/namespaces/user01/pods', user: 'user01@example.com', groups: ['students'],
    verb: 'list', resource: 'pods', subresource: '', namespace: 'user01', name: '', status: 200, bytes: 10,
    durationMs: 3, upstreamMs: 2, remoteAddress: '127.0.0.1', userAgent: 'kubectl', upgrade: undefined, failure: undefined,
    ...over,
  }
}

// Unit tests for src/log/access-line.ts: every line byte-identical to the one pino writes for the same record.
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { AccessLineFormat } from '../../../src/log/access-line.js'
import type { AccessRecord } from '../../../src/log/access-record.js'

const NOW = Date.UTC(2026, 11, 3, 13, 0, 0, 123)

/** pino as createLogger configures it, with the clock fixed: the oracle. */
function pinoLine (level: 'info' | 'error', record: AccessRecord): string {
  let out = ''
  const stream = new Writable({ write (c: Buffer, _e, cb) { out += c.toString(); cb() } })
  const logger = pino({
    base: { service: 'kubegate' },
    timestamp: () => `,"time":"${new Date(NOW).toISOString()}"`,
    formatters: { level: (label) => ({ level: label }) },
    level: 'trace',
  }, stream)
  logger[level](record, 'request')
  return out
}

const FULL: Required<{ [K in keyof AccessRecord]: Exclude<AccessRecord[K], undefined> }> = {
  requestId: 'abc-1',
  method: 'GET',
  uri: '/api/v1/namespaces/user01/pods?labelSelector=a%3Db&watch=1',
  user: 'alice@example.com',
  groups: ['students', 'system:authenticated'],
  impersonatedUser: 'bob@example.com',
  impersonatedGroups: ['teachers'],
  verb: 'list',
  resource: 'pods',
  subresource: 'log',
  namespace: 'user01',
  name: 'web-0',
  status: 200,
  bytes: 2048,
  durationMs: 1.234,
  upstreamMs: 0.5,
  remoteAddress: '2001:db8::1',
  userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
  upgrade: 'websocket',
  failure: 'bad_signature',
}

const CASES: Array<[string, AccessRecord]> = [
  ['every field', FULL],
  ['refused before authentication (identity and upstream fields missing)', { ...FULL, user: undefined, groups: undefined, impersonatedUser: undefined, impersonatedGroups: undefined, upstreamMs: undefined, upgrade: undefined }],
  ['quotes, backslashes and control characters', { ...FULL, uri: '/x?"a"\\b\u0001\n\t', userAgent: 'ua "quoted" \\ \u001f', name: '' }],
  ['non-ASCII names (UTF-8 from the token, latin1 from the request line)', { ...FULL, user: '開発チーム@example.com', groups: ['équipe', 'ü\u00a0x', '👩‍💻'], uri: '/api/v1/namespaces/caf\u00e9/pods' }],
  ['long strings (pino switches to JSON.stringify past 100 characters)', { ...FULL, userAgent: 'x'.repeat(250) + '"', uri: '/' + 'p'.repeat(300) }],
  ['numbers: zero, fractions, large', { ...FULL, status: 0, bytes: 0, durationMs: 1234567.891, upstreamMs: 0.001 }],
  ['empty groups', { ...FULL, groups: [], impersonatedGroups: [] }],
]

describe('AccessLineFormat', () => {
  const format = new AccessLineFormat({ service: 'kubegate' }, 'request')
  for (const [name, record] of CASES) {
    for (const level of ['info', 'error'] as const) {
      it(`${name} (${level}): the same bytes as pino`, () => {
        assert.equal(format.line(level, record, NOW), pinoLine(level, record))
      })
    }
  }

  it('a record built in another key order still writes the declared order (as access.ts builds it)', () => {
    const reversed = Object.fromEntries(Object.entries(FULL).reverse()) as unknown as AccessRecord
    assert.equal(format.line('info', reversed, NOW), pinoLine('info', FULL))
  })

  it('each line is one JSON object ending in a newline, with the time of its own millisecond', () => {
    const a = format.line('info', FULL, NOW)
    const b = format.line('info', FULL, NOW + 1)
    assert.ok(a.endsWith('}\n') && !a.slice(0, -1).includes('\n'))
    assert.equal((JSON.parse(a) as { time: string }).time, '2026-12-03T13:00:00.123Z')
    assert.equal((JSON.parse(b) as { time: string }).time, '2026-12-03T13:00:00.124Z')
  })
})

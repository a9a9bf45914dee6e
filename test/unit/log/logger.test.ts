import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, it } from 'node:test'
import { pino } from 'pino'
import { accessLogWriter, createLogger, PIPE_BUF, REDACT } from '../../../src/log/logger.js'
import type { AccessRecord } from '../../../src/server/handler.js'

function sink (): { stream: Writable, lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = []
  const stream = new Writable({ write (c: Buffer, _e, cb) { chunks.push(c.toString()); cb() } })
  return { stream, lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>) }
}

/** Every field set. Typed so that a field added to AccessRecord fails to compile here until it is listed. */
const FULL: { [K in keyof AccessRecord]-?: Exclude<AccessRecord[K], undefined> } = {
  requestId: 'abc-1',
  method: 'GET',
  uri: '/api/v1/namespaces/user01/pods?labelSelector=token%3Dx',
  user: 'alice@example.com',
  groups: ['token', 'authorization', 'system:authenticated'],
  impersonatedUser: 'bob@example.com',
  impersonatedGroups: ['students', 'system:authenticated'],
  verb: 'list',
  resource: 'pods',
  subresource: '',
  namespace: 'user01',
  name: '',
  status: 200,
  bytes: 2048,
  durationMs: 1.234,
  upstreamMs: 0.5,
  remoteAddress: '127.0.0.1',
  userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc',
  upgrade: 'websocket',
  failure: 'bad_signature',
}

const withoutTime = (l: Record<string, unknown>): Record<string, unknown> => {
  const { time, ...rest } = l
  assert.equal(typeof time, 'string')
  return rest
}

describe('access log writer', () => {
  it('no AccessRecord field name can be matched by a redact path (top level or one level down)', () => {
    const keys = Object.keys(FULL)
    for (const path of REDACT) {
      const parts = path.split('.')
      const last = parts[parts.length - 1] as string
      assert.ok(!keys.includes(parts[0] as string), `${path} names an AccessRecord field`)
      assert.ok(!keys.includes(last), `${path} names an AccessRecord field`)
    }
  })

  it('writes exactly the line the redacting logger would write (redaction is a no-op on access records)', () => {
    const fast = sink()
    const slow = sink()
    const a = createLogger({ level: 'info', destination: fast.stream })
    const b = createLogger({ level: 'info', destination: slow.stream })
    const write = accessLogWriter(a)
    write('info', FULL)
    write('error', { ...FULL, status: 502 })
    b.info(FULL, 'request')
    b.error({ ...FULL, status: 502 }, 'request')
    const got = fast.lines().map(withoutTime)
    const want = slow.lines().map(withoutTime)
    assert.equal(got.length, 2)
    assert.deepEqual(got, want)
    assert.equal(got[0]?.msg, 'request')
    assert.equal(got[0]?.level, 'info')
    assert.equal(got[0]?.service, 'kubegate')
    assert.equal(got[1]?.level, 'error')
  })

  it('follows the main logger\'s level, also when it changes later (config reload)', () => {
    const s = sink()
    const logger = createLogger({ level: 'warn', destination: s.stream })
    const write = accessLogWriter(logger)
    write('info', FULL)
    write('error', { ...FULL, status: 503 })
    assert.deepEqual(s.lines().map((l) => l.status), [503])
    logger.level = 'info'
    write('info', { ...FULL, status: 201 })
    logger.level = 'silent'
    write('error', { ...FULL, status: 500 })
    assert.deepEqual(s.lines().map((l) => l.status), [503, 201])
  })

  it('a logger not made by createLogger keeps its own path (and its redaction)', () => {
    const s = sink()
    const foreign = pino({ redact: ['groups'] }, s.stream)
    accessLogWriter(foreign)('info', FULL)
    const [line] = s.lines()
    assert.equal(line?.msg, 'request')
    assert.equal(line?.groups, '[Redacted]')
  })
})

describe('stdout shared by the workers', () => {
  it('writes whole lines of at most PIPE_BUF bytes per write(2), so processes never interleave mid-line', () => {
    const logger = createLogger({ level: 'info', sharedStdout: true })
    const stream = (logger as unknown as Record<symbol, { maxWrite: number, minLength: number }>)[pino.symbols.streamSym]!
    assert.equal(PIPE_BUF, 4096)
    assert.equal(stream.maxWrite, PIPE_BUF)
    assert.ok(stream.minLength < stream.maxWrite)
  })
})

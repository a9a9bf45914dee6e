import { Writable } from 'node:stream'
import { accessLogWriter, createLogger } from '../../src/log/logger.js'
import type { AccessRecord } from '../../src/server/handler.js'
import type { MicroCase } from './harness.js'

/** The access line of one request: pino's redacting logger vs the access writer (src/log/logger.ts, src/log/access-line.ts). */
export function cases (): MicroCase[] {
  // A sink that drops lines: the serialisation is paid, the write is not (as with stdout on /dev/null).
  const sink = new Writable({ write (_c, _e, cb) { cb() } })
  const logger = createLogger({ level: 'info', destination: sink })
  const write = accessLogWriter(logger)
  const rec: AccessRecord = {
    requestId: 'lq3k2-m2x9a-1f', method: 'GET', uri: '/api/v1/namespaces/user01/pods', user: 'user01@example.com',
    groups: ['students', 'class-2025'], verb: 'list', resource: 'pods', subresource: '', namespace: 'user01', name: '',
    status: 200, bytes: 2048, durationMs: 1.234, upstreamMs: 0.812, remoteAddress: '127.0.0.1',
    userAgent: 'kubectl/v1.31.0 (linux/amd64) kubernetes/abc', upgrade: undefined, failure: undefined,
  }
  return [
    { name: 'access line, pino with redaction (logger.info)', fn: () => logger.info(rec, 'request') },
    { name: 'access line, accessLogWriter (AccessLineFormat, no pino call)', fn: () => write('info', rec) },
  ]
}

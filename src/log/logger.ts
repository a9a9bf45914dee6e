// The process logger (pino) and the access-line writer that skips redaction for its closed set of fields.
import { pino, type Logger, type DestinationStream, type LoggerOptions as PinoOptions } from 'pino'
import { AccessLineFormat } from './access-line.js'
import type { AccessRecord } from './access-record.js'

export type { Logger }

/**
 * Paths redacted as a backstop. The primary rule is that nothing secret is ever put into a log object:
 * headers are never logged except the allow-listed fields of the access line, and tokens are never
 * passed to the logger at all (the token cache key is a hash).
 */
export const REDACT = [
  'authorization', 'token', 'idToken', 'id_token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token',
  'password', 'clientSecret', 'client_secret', 'secret', 'cookie',
  '*.authorization', '*.token', '*.idToken', '*.id_token', '*.accessToken', '*.access_token', '*.refreshToken',
  '*.refresh_token', '*.password', '*.clientSecret', '*.client_secret', '*.secret', '*.cookie',
  'req.headers', 'headers',
]

export interface LoggerOptions {
  readonly level: string
  readonly destination?: DestinationStream
  /**
   * Several processes write this stdout (the workers of `server.workers` > 1): each write(2) is whole lines and
   * at most PIPE_BUF bytes, which the kernel writes in one piece even on a pipe shared with other writers.
   */
  readonly sharedStdout?: boolean
}

/** The fields every line carries besides level, time and msg. */
const BASE = { service: 'kubegate' } as const

/** Where each logger made by createLogger writes, for its access lines (same destination, same format). */
const accessDestinations = new WeakMap<Logger, DestinationStream>()

/** Writes of at most this many bytes to a pipe are atomic (POSIX PIPE_BUF; 4096 on Linux). */
export const PIPE_BUF = 4096

export function createLogger (options: LoggerOptions): Logger {
  let destination = options.destination
  if (destination === undefined) {
    // sonic-boom buffers whole lines and cuts its buffer into writes of at most maxWrite bytes, each whole lines
    // (a longer line is one write of its own); minLength must stay below maxWrite.
    const boom = options.sharedStdout === true
      ? pino.destination({ dest: 1, sync: false, minLength: PIPE_BUF / 2, maxWrite: PIPE_BUF })
      : pino.destination({ dest: 1, sync: false, minLength: 4096 })
    // minLength batches writes under load; without a timer a quiet proxy would hold its last lines (the
    // start-up line, a shutdown) in memory indefinitely.
    const t = setInterval(() => { boom.flush() }, 1000)
    t.unref()
    destination = boom
  }
  const format: PinoOptions = {
    base: BASE,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }
  const logger = pino({ ...format, level: options.level, redact: { paths: REDACT, censor: '[redacted]' } }, destination)
  accessDestinations.set(logger, destination)
  return logger
}

export type AccessLogWriter = (level: 'info' | 'error', record: AccessRecord) => void

/**
 * Writes access lines (`msg: "request"`) for `logger`. The access line is the one log call made on every
 * request. pino's redaction (@pinojs/redact re-parses every path and walks every key for each wildcard on each
 * call) was its largest cost (~11% of kubegate's busy CPU in bench scenario 1's profile), and once that was
 * gone, pino's generic serialisation of an object it knows nothing about was the next (~7% on 2026-12-03). An
 * AccessRecord is a closed set of fields built one by one in src/server/access.ts, none of which any REDACT
 * path can match, so its line is serialised by AccessLineFormat (src/log/access-line.ts: byte-identical to
 * pino's, checked against it in test/unit/log) and written to the logger's own destination, so it keeps its
 * place among the other lines, gated by the logger's level at each call (a reload may change it). Loggers not
 * made by createLogger keep pino's redacting path.
 */
export function accessLogWriter (logger: Logger): AccessLogWriter {
  const destination = accessDestinations.get(logger)
  if (destination === undefined) return (level, record) => { logger[level](record, 'request') }
  const format = new AccessLineFormat(BASE, 'request')
  return (level, record) => {
    if (logger.isLevelEnabled(level)) destination.write(format.line(level, record, Date.now()))
  }
}

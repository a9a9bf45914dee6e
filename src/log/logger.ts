import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

/**
 * Paths redacted as a backstop. The primary rule is that nothing secret is ever put into a log object:
 * headers are never logged except the allow-listed fields of the access line, and tokens are never
 * passed to the logger at all (the token cache key is a hash).
 */
const REDACT = [
  'authorization', 'token', 'idToken', 'id_token', 'accessToken', 'access_token', 'refreshToken', 'refresh_token',
  'password', 'clientSecret', 'client_secret', 'secret', 'cookie',
  '*.authorization', '*.token', '*.idToken', '*.id_token', '*.accessToken', '*.access_token', '*.refreshToken',
  '*.refresh_token', '*.password', '*.clientSecret', '*.client_secret', '*.secret', '*.cookie',
  'req.headers', 'headers',
]

export interface LoggerOptions {
  readonly level: string
  readonly destination?: DestinationStream
}

export function createLogger (options: LoggerOptions): Logger {
  let destination = options.destination
  if (destination === undefined) {
    const boom = pino.destination({ dest: 1, sync: false, minLength: 4096 })
    // minLength batches writes under load; without a timer a quiet proxy would hold its last lines (the
    // start-up line, a shutdown) in memory indefinitely.
    const t = setInterval(() => { boom.flush() }, 1000)
    t.unref()
    destination = boom
  }
  return pino({
    level: options.level,
    base: { service: 'kubegate' },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT, censor: '[redacted]' },
    formatters: { level: (label) => ({ level: label }) },
  }, destination)
}

// Serialises an AccessRecord into the exact JSON line pino writes for it, without pino's per-call machinery.
import type { AccessRecord } from './access-record.js'

/**
 * The record's fields in the order AccessRecord declares them (src/server/access.ts builds it in this order,
 * and pino writes an object's keys in insertion order). test/unit/log/access-line.test.ts checks every line
 * against pino's own over records with every field, missing fields, escapes and non-ASCII text.
 */
const FIELDS: ReadonlyArray<keyof AccessRecord> = [
  'requestId', 'method', 'uri', 'user', 'groups', 'impersonatedUser', 'impersonatedGroups', 'verb', 'resource',
  'subresource', 'namespace', 'name', 'status', 'bytes', 'durationMs', 'upstreamMs', 'remoteAddress', 'userAgent',
  'upgrade', 'failure',
]

/** `"name":` for each field, built once. */
const KEYS: ReadonlyMap<keyof AccessRecord, string> = new Map(FIELDS.map((f) => [f, `,${JSON.stringify(f)}:`]))

/** The ISO time of the last millisecond a line was written in: most lines under load share it with their neighbour. */
class IsoClock {
  #ms = -1
  #iso = ''

  at (ms: number): string {
    if (ms !== this.#ms) {
      this.#ms = ms
      this.#iso = new Date(ms).toISOString()
    }
    return this.#iso
  }
}

/**
 * Access lines in pino's format for `createLogger`'s options (`formatters.level` as a label, `isoTime`, base
 * `{service}`): `{"level":"info","time":"…","service":"kubegate",<the record's defined fields>,"msg":"request"}`.
 * The access line is the one log call on every request; pino spent most of its cost looking up how to
 * serialise each key and value of an object it knows nothing about. This one knows the record.
 */
export class AccessLineFormat {
  readonly #bindings: string
  readonly #msg: string
  readonly #clock = new IsoClock()

  constructor (base: Readonly<Record<string, string>>, msg: string) {
    this.#bindings = Object.entries(base).map(([k, v]) => `,${JSON.stringify(k)}:${JSON.stringify(v)}`).join('')
    this.#msg = `,"msg":${JSON.stringify(msg)}}\n`
  }

  line (level: 'info' | 'error', record: AccessRecord, nowMs: number): string {
    let out = '{"level":"' + level + '","time":"' + this.#clock.at(nowMs) + '"' + this.#bindings
    for (let i = 0; i < FIELDS.length; i++) {
      const field = FIELDS[i] as keyof AccessRecord
      const value = record[field]
      if (value === undefined) continue
      out += (KEYS.get(field) as string) + valueJson(value)
    }
    return out + this.#msg
  }
}

/** What JSON.stringify writes for a field's value (pino's own choice for strings, numbers and arrays). */
function valueJson (value: string | number | readonly string[]): string {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'null'
  return JSON.stringify(value)
}

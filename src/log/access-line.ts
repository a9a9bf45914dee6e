// Serialises an AccessRecord into the exact JSON line pino writes for it, without pino's per-call machinery.
import type { AccessRecord } from './access-record.js'

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

  /**
   * The fields in the order AccessRecord declares them (src/server/access.ts builds it in this order, and pino
   * writes an object's keys in insertion order), one property read each: a loop over field names made every
   * read a megamorphic keyed load. test/unit/log/access-line.test.ts checks every line against pino's own over
   * records with every field, missing fields, escapes and non-ASCII text.
   */
  line (level: 'info' | 'error', r: AccessRecord, nowMs: number): string {
    return '{"level":"' + level + '","time":"' + this.#clock.at(nowMs) + '"' + this.#bindings +
      ',"requestId":' + str(r.requestId) + ',"method":' + str(r.method) + ',"uri":' + str(r.uri) +
      opt(',"user":', r.user) + optList(',"groups":', r.groups) +
      opt(',"impersonatedUser":', r.impersonatedUser) + optList(',"impersonatedGroups":', r.impersonatedGroups) +
      ',"verb":' + str(r.verb) + ',"resource":' + str(r.resource) + ',"subresource":' + str(r.subresource) +
      ',"namespace":' + str(r.namespace) + ',"name":' + str(r.name) +
      ',"status":' + num(r.status) + ',"bytes":' + num(r.bytes) + ',"durationMs":' + num(r.durationMs) +
      (r.upstreamMs === undefined ? '' : ',"upstreamMs":' + num(r.upstreamMs)) +
      opt(',"remoteAddress":', r.remoteAddress) + opt(',"userAgent":', r.userAgent) + opt(',"upgrade":', r.upgrade) +
      opt(',"failure":', r.failure) + this.#msg
  }
}

/** A JSON string: most access-line values (ids, verbs, resource names) need no escaping, and are not scanned twice. */
function str (s: string): string {
  return SAFE.test(s) ? '"' + s + '"' : JSON.stringify(s)
}

/** Printable ASCII without `"` or `\\`: written as is. */
const SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/

function opt (key: string, s: string | undefined): string {
  return s === undefined ? '' : key + str(s)
}

function optList (key: string, list: readonly string[] | undefined): string {
  if (list === undefined) return ''
  let out = key + '['
  for (let i = 0; i < list.length; i++) out += (i === 0 ? '' : ',') + str(list[i] as string)
  return out + ']'
}

/** What JSON.stringify writes for a number (pino's choice as well). */
function num (n: number): string {
  return Number.isFinite(n) ? String(n) : 'null'
}

// Builds the upstream Impersonate-* header block from a verified identity, with the final check that it is safe to send.
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'

/**
 * Header values are handed to undici and to raw sockets as JavaScript strings, which both write as
 * Latin-1. To put the exact UTF-8 bytes of a claim on the wire (LDAP group names are often not ASCII),
 * the string is re-expressed as one Latin-1 character per UTF-8 byte.
 */
export function toWireValue (value: string): string {
  // Pure ASCII (the common case) needs no conversion.
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) return Buffer.from(value, 'utf8').toString('latin1')
  }
  return value
}

// eslint-disable-next-line no-control-regex
const BAD_VALUE = /[\u0000-\u001f\u007f]/

/**
 * HTTP parsers strip optional whitespace (SP, HTAB) around field values, so a value that starts or ends
 * with one would not arrive as sent. Only those two: String.prototype.trim would also strip U+00A0, which
 * here is the Latin-1 image of a UTF-8 continuation byte (the last byte of "開発チーム" is 0xA0).
 */
function hasOuterWhitespace (v: string): boolean {
  const first = v.charCodeAt(0)
  const last = v.charCodeAt(v.length - 1)
  return first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09
}

/**
 * Builds kubegate's identity headers as a flat `[name, value, ...]` list: exactly one Impersonate-User,
 * one Impersonate-Group line per group (the apiserver never splits a value on commas, so joining would
 * create a different group), Impersonate-Uid when present, one Impersonate-Extra-<key> line per extra value.
 * Built once per verified token and cached with it.
 *
 * The final check (invariant 2) runs here, on the only producer of these headers: it throws (500) if the
 * block would not carry exactly one clean, non-empty user, or a user or group value holds a comma.
 */
export function buildImpersonationHeaders (identity: Identity): readonly string[] {
  const out: string[] = ['Impersonate-User', toWireValue(identity.user)]
  for (const g of identity.groups) out.push('Impersonate-Group', toWireValue(g))
  if (identity.uid !== undefined) out.push('Impersonate-Uid', toWireValue(identity.uid))
  if (identity.extra !== undefined) {
    for (const key of Object.keys(identity.extra)) {
      const name = EXTRA_PREFIX + escapeExtraKey(key)
      for (const v of identity.extra[key] as readonly string[]) out.push(name, toWireValue(v))
    }
  }
  assertImpersonationBlock(out)
  return Object.freeze(out)
}

const EXTRA_PREFIX = 'Impersonate-Extra-'

/** RFC 7230 `tchar`: the bytes a header field name may carry as they are. */
function isTokenByte (b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
    (b !== 0x25 && '!#$%&\'*+-.^_`|~'.includes(String.fromCharCode(b)))
}

/**
 * The extra key as a header name suffix, exactly as client-go's impersonating transport writes it
 * (`headerKeyEscape`): every byte of the UTF-8 key that is not a token character, and `%` itself, as `%XX`
 * upper-case; the apiserver reads it back with `url.PathUnescape` after lower-casing the name. So
 * `example.org/team` travels as `Impersonate-Extra-example.org%2Fteam`.
 */
export function escapeExtraKey (key: string): string {
  let out = ''
  for (const b of Buffer.from(key, 'utf8')) {
    out += isTokenByte(b) ? String.fromCharCode(b) : '%' + b.toString(16).toUpperCase().padStart(2, '0')
  }
  return out
}

export function assertImpersonationBlock (block: readonly string[]): void {
  let users = 0
  for (let i = 0; i < block.length; i += 2) {
    const name = block[i] as string
    const value = block[i + 1]
    if (typeof value !== 'string' || value === '' || BAD_VALUE.test(value) || hasOuterWhitespace(value)) {
      throw new KubegateError('KG_ERR_INTERNAL', `impersonation header ${name} has an unsafe value`)
    }
    if (name === 'Impersonate-User' || name === 'Impersonate-Group') {
      if (name === 'Impersonate-User') users++
      if (value.includes(',')) throw new KubegateError('KG_ERR_INTERNAL', `${name} value contains a comma`)
    } else if (name !== 'Impersonate-Uid' && !isExtraHeader(name)) {
      throw new KubegateError('KG_ERR_INTERNAL', `unexpected impersonation header ${name}`)
    }
  }
  if (users !== 1) throw new KubegateError('KG_ERR_INTERNAL', 'impersonation block must carry exactly one user')
}

/** `Impersonate-Extra-<escaped key>` with a non-empty key made of token bytes only (escapeExtraKey's output). */
function isExtraHeader (name: string): boolean {
  if (!name.startsWith(EXTRA_PREFIX) || name.length === EXTRA_PREFIX.length) return false
  for (let i = EXTRA_PREFIX.length; i < name.length; i++) {
    const b = name.charCodeAt(i)
    if (b !== 0x25 && !isTokenByte(b)) return false
  }
  return true
}

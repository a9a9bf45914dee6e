/**
 * Bearer token extraction (RFC 6750 §2.1). The scheme is case-insensitive ("bearer", "BEARER"); the token
 * is everything after one or more spaces, and must be non-empty with no inner whitespace.
 * Returns undefined for anything else (Basic, empty, malformed): the caller answers 401.
 */
export function parseBearer (header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined
  const c0 = header.charCodeAt(0) | 0x20
  if (c0 !== 0x62 || header.slice(0, 6).toLowerCase() !== 'bearer' || header.charCodeAt(6) !== 0x20) return undefined
  let start = 7
  while (header.charCodeAt(start) === 0x20) start++
  let end = header.length
  while (end > start && (header.charCodeAt(end - 1) === 0x20 || header.charCodeAt(end - 1) === 0x09)) end--
  if (end === start) return undefined
  const token = start === 7 && end === header.length ? header.slice(7) : header.slice(start, end)
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i)
    if (c <= 0x20 || c >= 0x7f) return undefined
  }
  return token
}

/** The WebSocket subprotocol that carries a bearer token (client-go, browsers: no custom headers there). */
export const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.'

export type SubprotocolToken =
  | { readonly kind: 'none' }
  | { readonly kind: 'token', readonly token: string, readonly rest: readonly string[] }
  | { readonly kind: 'invalid', readonly detail: string }

/**
 * Pulls the bearer token out of the offered subprotocols. The token protocol must appear once, with at
 * least one real protocol beside it (otherwise the apiserver could only answer with the token itself),
 * and decode to a plausible token. `rest` is what gets forwarded.
 */
export function takeSubprotocolToken (protocols: readonly string[] | undefined): SubprotocolToken {
  if (protocols === undefined) return { kind: 'none' }
  let token: string | undefined
  let count = 0
  const rest: string[] = []
  for (const p of protocols) {
    if (p.startsWith(BEARER_PROTOCOL_PREFIX)) {
      count++
      const enc = p.slice(BEARER_PROTOCOL_PREFIX.length)
      if (enc === '' || !/^[A-Za-z0-9_-]+$/.test(enc)) return { kind: 'invalid', detail: 'bad base64url' }
      token = Buffer.from(enc, 'base64url').toString('utf8')
    } else {
      rest.push(p)
    }
  }
  if (count === 0) return { kind: 'none' }
  if (count > 1) return { kind: 'invalid', detail: 'more than one bearer subprotocol' }
  if (rest.length === 0) return { kind: 'invalid', detail: 'bearer subprotocol without another protocol' }
  const parsed = parseBearer('Bearer ' + (token as string))
  if (parsed === undefined || parsed !== token) return { kind: 'invalid', detail: 'bad token in subprotocol' }
  return { kind: 'token', token, rest }
}

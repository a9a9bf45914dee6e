/**
 * The bearer token of a request, read as kube-apiserver's request authenticators read it: the
 * `Authorization: Bearer` header (bearertoken.go) and the WebSocket bearer subprotocol (websocket/protocol.go).
 * Anything they would not authenticate yields no token here, and the caller answers 401.
 */

/**
 * The token of an `Authorization` value. As the apiserver: outer whitespace trimmed, the scheme
 * case-insensitive, then exactly one space: it splits on single spaces, so `Bearer  <token>` (two spaces)
 * has an empty token and is not authenticated. Stricter than the apiserver, which passes `parts[1]` on and
 * ignores the rest: a token with inner whitespace or a byte outside visible ASCII is refused here (such a
 * token cannot be a JWT, and a header value must not carry a truncated credential upstream).
 * Returns undefined for anything else (Basic, empty, malformed).
 */
export function parseBearer (header: string | undefined): string | undefined {
  if (header === undefined || header.length < 8) return undefined
  const c0 = header.charCodeAt(0) | 0x20
  if (c0 !== 0x62 || header.slice(0, 6).toLowerCase() !== 'bearer' || header.charCodeAt(6) !== 0x20) return undefined
  let end = header.length
  while (end > 7 && (header.charCodeAt(end - 1) === 0x20 || header.charCodeAt(end - 1) === 0x09)) end--
  if (end === 7) return undefined
  const token = end === header.length ? header.slice(7) : header.slice(7, end)
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

/** Unpadded base64url, as Go's `base64.RawURLEncoding` accepts it: its alphabet only, and no length ≡ 1 (mod 4). */
const RAW_BASE64URL = /^[A-Za-z0-9_-]*$/
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/** The token inside one bearer subprotocol, or why the apiserver would not authenticate it. */
function decodeProtocolToken (encoded: string): { token: string } | { invalid: string } {
  if (encoded === '') return { invalid: 'empty token' }
  if (!RAW_BASE64URL.test(encoded) || encoded.length % 4 === 1) return { invalid: 'bad base64url' }
  let token: string
  try {
    token = strictUtf8.decode(Buffer.from(encoded, 'base64url'))
  } catch {
    return { invalid: 'token is not UTF-8' }
  }
  // The same rule as the header: the token must read back unchanged as a bearer value.
  if (parseBearer('Bearer ' + token) !== token) return { invalid: 'bad token in subprotocol' }
  return { token }
}

/**
 * Pulls the bearer token out of the offered subprotocols, case by case as the apiserver's
 * ProtocolAuthenticator: the token protocol at most once (two, even identical, are an error), with at
 * least one other protocol beside it (else the 101 could only echo the token), unpadded base64url of a
 * UTF-8 token. Each `invalid` is an authentication failure (401), never a malformed request. `rest` is
 * what gets forwarded.
 */
export function takeSubprotocolToken (protocols: readonly string[] | undefined): SubprotocolToken {
  if (protocols === undefined) return { kind: 'none' }
  let token: string | undefined
  const rest: string[] = []
  for (const p of protocols) {
    if (!p.startsWith(BEARER_PROTOCOL_PREFIX)) {
      rest.push(p)
      continue
    }
    if (token !== undefined) return { kind: 'invalid', detail: 'more than one bearer subprotocol' }
    const decoded = decodeProtocolToken(p.slice(BEARER_PROTOCOL_PREFIX.length))
    if ('invalid' in decoded) return { kind: 'invalid', detail: decoded.invalid }
    token = decoded.token
  }
  if (token === undefined) return { kind: 'none' }
  if (rest.length === 0) return { kind: 'invalid', detail: 'bearer subprotocol without another protocol' }
  return { kind: 'token', token, rest }
}

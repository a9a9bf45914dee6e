/**
 * One pass over the client's raw header lines, deciding for each what kubegate does with it. Every check
 * and the forwarded list come from the same `rawHeaders` view (invariant 8): there is no second parser
 * whose idea of "the Authorization header" could differ from the one that was checked.
 */

export interface ClientHeaders {
  /** Values of every Authorization line (two or more lines is a 400). */
  authorization: string | undefined
  authorizationCount: number
  /** A header whose name, lower-cased with `_` read as `-`, starts with `impersonate-` or `x-remote-`. */
  identityHeader: boolean
  /**
   * Those header lines, flat `[name, value, ...]` as sent (never forwarded): what the client-identity step
   * reads a nested impersonation from. undefined when there is none (the common case allocates nothing).
   */
  identityLines: string[] | undefined
  /** Headers to forward, flat `[name, value, ...]`, as sent (names and values untouched). */
  forward: string[]
  /** The Upgrade header value, if any. */
  upgrade: string | undefined
  /** Every Sec-WebSocket-Protocol value (they are removed from `forward`; the tunnel rebuilds the header). */
  wsProtocols: string[] | undefined
  hasBody: boolean
}

/** Lower-case names that never travel upstream as the client sent them. */
const DROP = new Set([
  // Hop-by-hop (RFC 9110 §7.6.1); kubegate generates its own Connection/Upgrade upstream.
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
  // Credentials and identity: replaced by kubegate's own.
  'authorization', 'proxy-authorization', 'cookie',
  // Client-asserted forwarding information: kubegate sets X-Forwarded-For itself from the peer address.
  'forwarded', 'x-real-ip', 'x-client-ip', 'true-client-ip',
  // undici sets Host from the configured origin; 100-continue is answered by kubegate after authentication.
  'host', 'expect',
  // kubegate sets Audit-ID to its own request id so apiserver audit events join with kubegate's access log.
  'audit-id',
  'sec-websocket-protocol',
])

function isIdentityName (lower: string): boolean {
  const n = lower.includes('_') ? lower.replaceAll('_', '-') : lower
  return n.startsWith('impersonate-') || n.startsWith('x-remote-')
}

export function scanClientHeaders (raw: readonly string[]): ClientHeaders {
  const out: ClientHeaders = {
    authorization: undefined,
    authorizationCount: 0,
    identityHeader: false,
    identityLines: undefined,
    forward: [],
    upgrade: undefined,
    wsProtocols: undefined,
    hasBody: false,
  }
  let connectionTokens: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    const lower = name.toLowerCase()
    if (DROP.has(lower)) {
      switch (lower) {
        case 'authorization':
          out.authorizationCount++
          if (out.authorization === undefined) out.authorization = value
          break
        case 'connection':
          for (const t of value.split(',')) {
            const tok = t.trim().toLowerCase()
            if (tok !== '' && tok !== 'close' && tok !== 'keep-alive' && tok !== 'upgrade') (connectionTokens ??= []).push(tok)
          }
          break
        case 'upgrade':
          out.upgrade = out.upgrade === undefined ? value : out.upgrade + ',' + value
          break
        case 'transfer-encoding':
          out.hasBody = true
          break
        case 'sec-websocket-protocol':
          for (const p of value.split(',')) {
            const t = p.trim()
            if (t !== '') (out.wsProtocols ??= []).push(t)
          }
          break
      }
      continue
    }
    if (lower.startsWith('x-forwarded-')) continue
    if (isIdentityName(lower)) {
      out.identityHeader = true
      ;(out.identityLines ??= []).push(name, value)
      continue
    }
    if (lower === 'content-length' && value !== '0') out.hasBody = true
    out.forward.push(name, value)
  }
  if (connectionTokens !== undefined) {
    // Headers nominated by Connection are hop-by-hop for this hop only; whatever they name, kubegate's own
    // headers are added after this filter, so `Connection: impersonate-user` cannot remove them.
    const named = new Set(connectionTokens)
    const kept: string[] = []
    for (let i = 0; i < out.forward.length; i += 2) {
      if (!named.has((out.forward[i] as string).toLowerCase())) kept.push(out.forward[i] as string, out.forward[i + 1] as string)
    }
    out.forward = kept
  }
  return out
}

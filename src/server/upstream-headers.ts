// The header list sent upstream: the client's filtered headers, then kubegate's credential and its own lines.
import type { IncomingMessage } from 'node:http'
import type { Authenticated } from '../auth/authenticator.js'
import type { ClientHeaders } from '../impersonation/client-headers.js'
import type { TokenSource } from '../upstream/token-source.js'

/**
 * The upstream credential for a request forwarded as `forwardAs`: the one place that decides, by the
 * Authenticated, what kubegate adds. Today every Authenticated is an identity kubegate verified, so it adds
 * kubegate's own service-account token and the `Impersonate-*` lines built from that identity (one line per
 * group). A result that carries the client's own token instead (token passthrough) adds that, and nothing of
 * kubegate's, here.
 */
export function addUpstreamCredential (h: string[], forwardAs: Authenticated, serviceAccount: TokenSource): void {
  h.push('Authorization', serviceAccount.header)
  const lines = forwardAs.headers
  for (let i = 0; i < lines.length; i++) h.push(lines[i] as string)
}

/**
 * Upstream header list, flat `[name, value, ...]`: the client's filtered headers (the scan's own array,
 * extended in place: no copy on the hot path), the credential, then X-Forwarded-For and Audit-ID.
 */
export function buildUpstreamHeaders (scan: ClientHeaders, forwardAs: Authenticated, serviceAccount: TokenSource,
  clientAddress: string | undefined, requestId: string): string[] {
  const h = scan.forward
  addUpstreamCredential(h, forwardAs, serviceAccount)
  if (clientAddress !== undefined) h.push('X-Forwarded-For', clientAddress)
  h.push('Audit-ID', requestId)
  return h
}

/** The peer address, for servers without trusted proxies. */
export function peerAddress (req: IncomingMessage): string | undefined {
  return req.socket.remoteAddress
}

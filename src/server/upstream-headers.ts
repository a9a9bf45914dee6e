// The header list sent upstream: the client's filtered headers, then kubegate's credential and its own lines.
import type { IncomingMessage } from 'node:http'
import type { Authenticated } from '../auth/authenticator.js'
import { isPassedThrough } from '../auth/token-review.js'
import type { ClientHeaders } from '../impersonation/client-headers.js'
import type { TokenSource } from '../upstream/token-source.js'

/**
 * The upstream credential for a request forwarded as `forwardAs`: the one place that decides, by the
 * Authenticated, what kubegate adds. An identity kubegate verified (or an impersonation the apiserver's RBAC
 * allowed for it) gets kubegate's own service-account token and the `Impersonate-*` lines built from that
 * identity (one line per group). A token passed through to the apiserver (src/auth/token-review.ts) gets the
 * client's own token and nothing of kubegate's.
 */
export function addUpstreamCredential (h: string[], forwardAs: Authenticated, serviceAccount: TokenSource): void {
  // Token passthrough: the client's own token, which the apiserver authenticates again; nothing of kubegate's.
  // Its lines (if any) are the client's own impersonation, rebuilt, for the apiserver to authorize.
  h.push('Authorization', isPassedThrough(forwardAs) ? forwardAs.passthrough.authorization : serviceAccount.header)
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

// The upgrade request as sent to the apiserver: its header lines, and a node:http request on a dedicated TLS socket.
import { request as httpRequest, type ClientRequest } from 'node:http'
import type { Socket } from 'node:net'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import type { UpstreamTarget } from './target.js'
import type { TunnelRequest } from './tunnel-types.js'

/** The `Host` value for the apiserver (IPv6 literals bracketed). */
export function hostHeaderFor (target: UpstreamTarget): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`
}

/**
 * The upgrade request's header lines, flat: `Host`, the caller's lines as given, then `Connection`,
 * `Upgrade` and the offered subprotocols. An upgrade request carries no body (the caller refused one).
 * Without a length Node would frame a POST (SPDY) as chunked and write a `0\r\n\r\n` terminator after
 * the head; Go's client sends `Content-Length: 0` for a bodiless POST, and so does kubegate.
 */
export function upstreamHeaders (tr: Pick<TunnelRequest, 'headers' | 'upgrade' | 'wsProtocols'>, method: string,
  hostHeader: string): string[] {
  const headers: string[] = ['Host', hostHeader]
  let hasLength = false
  for (let i = 0; i < tr.headers.length; i += 2) {
    const name = tr.headers[i] as string
    if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true
    headers.push(name, tr.headers[i + 1] as string)
  }
  headers.push('Connection', 'Upgrade', 'Upgrade', tr.upgrade)
  if (tr.wsProtocols !== undefined && tr.wsProtocols.length > 0) headers.push('Sec-WebSocket-Protocol', tr.wsProtocols.join(', '))
  if (!hasLength && method !== 'GET' && method !== 'HEAD') headers.push('Content-Length', '0')
  return headers
}

/** A fresh TLS connection to the apiserver, verified against the target's CA and name, HTTP/1.1 only. */
export function connectUpstream (target: UpstreamTarget): Socket {
  const tlsOptions: ConnectionOptions & { allowHalfOpen: boolean } = {
    host: target.host,
    port: target.port,
    ca: target.ca,
    servername: target.servername,
    rejectUnauthorized: true,
    ALPNProtocols: ['http/1.1'],
    // Half-close travels end to end once spliced; kubegate decides when each side is finished.
    // (tls.connect passes it to the TLSSocket; @types/node omits it from ConnectionOptions.)
    allowHalfOpen: true,
  }
  const s = tlsConnect(tlsOptions)
  s.setNoDelay(true)
  return s
}

/**
 * The upgrade request on its own connection: no Agent (never pooled, never reused), Node's strict parser
 * for the answer, header lines exactly as given. `onSocket` receives the connection as soon as it exists.
 * Throws when Node refuses a header value it could not write safely (nothing has been sent then).
 */
export function openUpstreamRequest (target: UpstreamTarget, method: string, path: string, headers: string[],
  onSocket: (s: Socket) => void): ClientRequest {
  return httpRequest({
    method,
    path,
    headers,
    setHost: false,
    insecureHTTPParser: false,
    maxHeaderSize: 16 * 1024,
    joinDuplicateHeaders: false,
    createConnection: () => {
      const s = connectUpstream(target)
      onSocket(s)
      return s
    },
  })
}

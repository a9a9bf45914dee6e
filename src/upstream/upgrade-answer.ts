// The apiserver's answer to an upgrade request: whether a 101 is the switch that was asked for, and the heads relayed to the client.
import { STATUS_CODES } from 'node:http'
import { BEARER_PROTOCOL_PREFIX } from '../auth/bearer.js'

/** Hop-by-hop response headers: kubegate frames the relayed refusal itself. */
const RELAY_DROP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length'])

/** The values of every line named `lower` (lower case) in a flat `[name, value, ...]` header list. */
export function headerValues (raw: readonly string[], lower: string): string[] {
  const out: string[] = []
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === lower) out.push(raw[i + 1] as string)
  return out
}

/**
 * Why a 101's header lines do not match what was asked for (undefined: it matches): exactly one `Upgrade`
 * naming the requested protocol, and at most one `Sec-WebSocket-Protocol`, one that was offered and never
 * the bearer-token protocol (RFC 6455 §4.1; security invariant 7).
 */
export function upgradeMismatch (rawHeaders: readonly string[], upgrade: string, offered: readonly string[] | undefined): string | undefined {
  const upgrades = headerValues(rawHeaders, 'upgrade')
  if (upgrades.length !== 1 || (upgrades[0] as string).trim().toLowerCase() !== upgrade.toLowerCase()) return 'with a different Upgrade'
  const protos = headerValues(rawHeaders, 'sec-websocket-protocol')
  if (protos.length > 1) return 'with more than one Sec-WebSocket-Protocol'
  if (protos.length === 1) {
    const p = (protos[0] as string).trim()
    if (p.startsWith(BEARER_PROTOCOL_PREFIX)) return 'selecting the bearer-token protocol'
    if (offered === undefined || !offered.includes(p)) return 'with a protocol that was not offered'
  }
  return undefined
}

/** The apiserver's 101 head for the client, rebuilt from its header lines (values are Latin-1 views of the bytes). */
export function switchingProtocolsHead (rawHeaders: readonly string[]): Buffer {
  let text = 'HTTP/1.1 101 Switching Protocols\r\n'
  for (let i = 0; i < rawHeaders.length; i += 2) text += `${rawHeaders[i] as string}: ${rawHeaders[i + 1] as string}\r\n`
  return Buffer.from(text + '\r\n', 'latin1')
}

/**
 * A refusal's head for the client, self-framed: hop-by-hop lines and those the apiserver's `Connection`
 * names are dropped, `Content-Length` is the relayed body's, and `Connection: close` ends the client
 * connection (it may hold a smuggled second request: CVE-2018-1002105).
 */
export function refusalHead (statusCode: number, rawHeaders: readonly string[], bodyLength: number): Buffer {
  let text = `HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? 'Unknown'}\r\n`
  const named = new Set<string>()
  for (const c of headerValues(rawHeaders, 'connection')) for (const tok of c.split(',')) named.add(tok.trim().toLowerCase())
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const lower = (rawHeaders[i] as string).toLowerCase()
    if (RELAY_DROP.has(lower) || named.has(lower)) continue
    text += `${rawHeaders[i] as string}: ${rawHeaders[i + 1] as string}\r\n`
  }
  text += `Content-Length: ${bodyLength}\r\nConnection: close\r\n\r\n`
  return Buffer.from(text, 'latin1')
}

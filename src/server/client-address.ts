// The client address for logs and X-Forwarded-For, trusting X-Forwarded-For only from configured proxies.
import type { IncomingMessage } from 'node:http'
import { BlockList, isIP } from 'node:net'

/** `10.0.0.0/8`, `fd00::/8` or a bare address; undefined when malformed. */
export function parseCidr (text: string): { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | undefined {
  const slash = text.indexOf('/')
  const address = slash === -1 ? text : text.slice(0, slash)
  const v = isIP(address)
  if (v === 0) return undefined
  const max = v === 4 ? 32 : 128
  let prefix = max
  if (slash !== -1) {
    const p = text.slice(slash + 1)
    if (!/^\d{1,3}$/.test(p)) return undefined
    prefix = Number(p)
    if (prefix > max) return undefined
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' }
}

/** `::ffff:10.1.2.3` (a dual-stack socket's view of an IPv4 peer) -> `10.1.2.3`. */
function unmap (addr: string): string {
  return addr.startsWith('::ffff:') && isIP(addr.slice(7)) === 4 ? addr.slice(7) : addr
}

/**
 * The client address for logs, audit events and the `X-Forwarded-For` kubegate sends upstream.
 *
 * `X-Forwarded-For` is client-controlled text; it is believed only when the peer is a trusted proxy, and
 * then only as far as the chain stays within trusted proxies: walking from the right (the entry the
 * nearest proxy appended), the first address that is not a trusted proxy is the client. Anything a client
 * put further left is ignored, so a client cannot choose its logged address by sending the header itself.
 * With no trusted proxies this is the peer address and the header is never parsed.
 */
export function createClientAddress (trustedProxies: readonly string[]): (req: IncomingMessage) => string | undefined {
  if (trustedProxies.length === 0) return (req) => req.socket.remoteAddress
  const list = new BlockList()
  for (const c of trustedProxies) {
    const p = parseCidr(c)
    if (p === undefined) throw new Error(`trusted proxy ${JSON.stringify(c)}: not an address or CIDR`)
    list.addSubnet(p.address, p.prefix, p.family)
  }
  const trusted = (addr: string): boolean => {
    const v = isIP(addr)
    return v !== 0 && list.check(addr, v === 4 ? 'ipv4' : 'ipv6')
  }
  return (req) => {
    const peer = req.socket.remoteAddress
    if (peer === undefined) return undefined
    const p = unmap(peer)
    if (!trusted(p)) return p
    // Several header lines are one list (RFC 9110 §5.3); read them in order from the raw lines.
    const raw = req.rawHeaders
    let xff = ''
    for (let i = 0; i < raw.length; i += 2) {
      if ((raw[i] as string).toLowerCase() === 'x-forwarded-for') xff = xff === '' ? raw[i + 1] as string : xff + ',' + (raw[i + 1] as string)
    }
    if (xff === '') return p
    const hops = xff.split(',')
    let client = p
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = unmap((hops[i] as string).trim())
      if (isIP(hop) === 0) return client
      client = hop
      if (!trusted(hop)) return hop
    }
    return client
  }
}

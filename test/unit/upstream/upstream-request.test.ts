// Unit tests of the upgrade request's header lines as sent to the apiserver.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { UpstreamTarget } from '../../../src/upstream/target.js'
import { hostHeaderFor, upstreamHeaders } from '../../../src/upstream/upstream-request.js'

const target = (host: string, port: number): UpstreamTarget => ({
  origin: `https://${host}:${port}`, host, port, ca: undefined, servername: undefined, tokenFile: undefined, staticToken: undefined, source: 'flags',
})

describe('upstreamHeaders', () => {
  it('Host first, the given lines in order, then Connection, Upgrade and the offered subprotocols', () => {
    const h = upstreamHeaders({ headers: ['Authorization', 'Bearer sa', 'Impersonate-Group', 'a', 'Impersonate-Group', 'b'], upgrade: 'websocket',
      wsProtocols: ['v5.channel.k8s.io', 'v4.channel.k8s.io'] }, 'GET', 'api:6443')
    assert.deepEqual(h, ['Host', 'api:6443', 'Authorization', 'Bearer sa', 'Impersonate-Group', 'a', 'Impersonate-Group', 'b',
      'Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Protocol', 'v5.channel.k8s.io, v4.channel.k8s.io'])
  })
  it('no Sec-WebSocket-Protocol line when nothing is offered', () => {
    const h = upstreamHeaders({ headers: [], upgrade: 'websocket', wsProtocols: [] }, 'GET', 'api:6443')
    assert.ok(!h.includes('Sec-WebSocket-Protocol'))
  })
  it('a bodiless POST (SPDY) says Content-Length: 0 so Node never frames it as chunked', () => {
    const h = upstreamHeaders({ headers: [], upgrade: 'SPDY/3.1', wsProtocols: undefined }, 'POST', 'api:6443')
    assert.deepEqual(h.slice(-2), ['Content-Length', '0'])
    const given = upstreamHeaders({ headers: ['content-length', '0'], upgrade: 'SPDY/3.1', wsProtocols: undefined }, 'POST', 'api:6443')
    assert.equal(given.filter((x) => x.toLowerCase() === 'content-length').length, 1)
    const get = upstreamHeaders({ headers: [], upgrade: 'websocket', wsProtocols: undefined }, 'GET', 'api:6443')
    assert.ok(!get.includes('Content-Length'))
  })
  it('Host brackets IPv6 literals', () => {
    assert.equal(hostHeaderFor(target('::1', 6443)), '[::1]:6443')
    assert.equal(hostHeaderFor(target('api.example', 443)), 'api.example:443')
  })
})

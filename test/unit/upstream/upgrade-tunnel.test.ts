// Unit tests of one upgrade attempt's phases (UpgradeTunnel through createTunneler), between a raw client and a scripted TLS apiserver on loopback.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { getTestPki } from '../../helpers/pki.js'
import { eventually, rawConnect, spdyRequest, startScriptedUpstream, wsFrame, wsRequest, type RawClient, type ScriptedUpstream } from '../../integration/upgrade/helpers.js'
import { createTunneler, type TunnelOptions, type TunnelResult } from '../../../src/upstream/tunnel.js'

const SWITCH_WS = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n'
const FORBIDDEN = '{"kind":"Status","code":403}'

/** kubegate's side reduced to the tunnel: a loopback HTTP server whose 'upgrade' hands the socket to a Tunneler. */
interface Front {
  url: string
  results: Array<Promise<TunnelResult>>
  aborts: Array<() => void>
  /** kubegate's end of each client connection, as handed to the tunnel. */
  clientSockets: Socket[]
  close: () => Promise<void>
}

async function startFront (up: ScriptedUpstream, options: Partial<TunnelOptions> = {}): Promise<Front> {
  const pki = await getTestPki()
  const port = Number(new URL(up.url).port)
  const tunneler = createTunneler({
    target: { origin: up.url, host: '127.0.0.1', port, ca: pki.caPem, servername: 'localhost', tokenFile: undefined, staticToken: undefined, source: 'flags' },
    responseTimeoutMs: 10_000,
    idleTimeoutMs: 0,
    ...options,
  })
  const front: Front = { url: '', results: [], aborts: [], clientSockets: [], close: async () => {} }
  const sockets = new Set<Socket>()
  const server: Server = createServer()
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    const offered = req.headers['sec-websocket-protocol']
    let resolve!: (r: TunnelResult) => void
    front.clientSockets.push(socket)
    front.results.push(new Promise((r) => { resolve = r }))
    front.aborts.push(tunneler.tunnel({
      req, client: socket, head, headers: ['Authorization', 'Bearer sa-token'], upgrade: req.headers.upgrade as string,
      wsProtocols: offered?.split(',').map((p) => p.trim()),
    }, resolve))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  front.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  front.close = async () => {
    for (const s of sockets) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return front
}

describe('UpgradeTunnel phases', () => {
  let up: ScriptedUpstream
  const clients: RawClient[] = []
  const fronts: Front[] = []
  before(async () => { up = await startScriptedUpstream('') })
  after(async () => {
    for (const c of clients) c.close()
    for (const f of fronts) await f.close()
    await up.close()
  })
  beforeEach(() => { up.connections.length = 0; up.sockets.length = 0; up.ended.length = 0; up.tcpConnections = 0 })

  async function attempt (text: string | Buffer, options: Partial<TunnelOptions> = {}): Promise<{ client: RawClient, front: Front }> {
    const front = await startFront(up, options)
    fronts.push(front)
    const client = await rawConnect(front.url, undefined)
    clients.push(client)
    client.socket.write(text)
    return { client, front }
  }
  const upBytes = (i = 0): string => Buffer.concat(up.connections[i] ?? []).toString('latin1')
  const upClosed = async (i = 0): Promise<boolean> => await eventually(() => up.sockets[i]?.destroyed === true || up.ended[i] === true, 5000)

  it('connect + send: one fresh TLS connection, Host and kubegate\'s lines, the offered subprotocols; no early byte before the 101', async () => {
    let seenBeforeAnswer = ''
    up.answer = (h, s, conn) => {
      seenBeforeAnswer = Buffer.concat(conn).toString('latin1')
      s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n')
    }
    const frame = wsFrame(Buffer.from('early'))
    const { client, front } = await attempt(Buffer.concat([Buffer.from(wsRequest('/exec', ['Sec-WebSocket-Protocol: v5.channel.k8s.io'])), frame]))
    const a = await client.head()
    assert.equal(a.status, 101)
    assert.ok(await eventually(() => upBytes().endsWith(frame.toString('latin1'))), 'the early frame arrives after the 101')
    assert.match(seenBeforeAnswer, /^GET \/exec HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nAuthorization: Bearer sa-token\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v5\.channel\.k8s\.io\r\n\r\n$/)
    assert.equal(up.tcpConnections, 1)
    front.aborts[0]?.()
    const r = await front.results[0]
    assert.equal(r?.status, 101)
    assert.equal(r?.spliced, true)
    assert.equal(r?.bytesIn, frame.length)
    assert.equal(r?.error, undefined)
  })

  it('check the 101: another protocol than asked → 502, nothing of the stream to the client, the apiserver connection closed', async () => {
    up.answer = (_h, s) => { s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\nSTREAM') }
    const { client, front } = await attempt(wsRequest('/exec', []) + 'EARLY')
    const a = await client.untilClosed()
    assert.equal(a.status, 502)
    assert.equal(a.closed, true)
    assert.ok(!a.text.includes('STREAM'))
    assert.ok(await upClosed())
    assert.ok(!upBytes().includes('EARLY'))
    const r = await front.results[0]
    assert.equal(r?.error?.failure, 'upgrade_mismatch')
    assert.equal(r?.spliced, false)
  })

  it('check the 101: the bearer-token protocol selected → 502, never echoed', async () => {
    up.answer = (_h, s) => { s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.eA\r\n\r\n') }
    const { client, front } = await attempt(wsRequest('/exec', ['Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    const a = await client.untilClosed()
    assert.equal(a.status, 502)
    assert.ok(!a.text.includes('bearer'))
    assert.equal((await front.results[0])?.error?.failure, 'upgrade_mismatch')
  })

  it('check the 101: a 101 without Connection: upgrade → 502', async () => {
    up.answer = (_h, s) => { s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\n\r\n') }
    const { client, front } = await attempt(spdyRequest('/exec', []))
    assert.equal((await client.untilClosed()).status, 502)
    assert.equal((await front.results[0])?.error?.failure, 'upgrade_mismatch')
  })

  it('a non-101 with a second request appended (CVE-2018-1002105): the refusal, both sockets close, the apiserver saw one request', async () => {
    up.answer = (_h, s) => { s.write(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${FORBIDDEN.length}\r\n\r\n${FORBIDDEN}`) }
    const second = 'GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n'
    const { client, front } = await attempt(wsRequest('/exec', []) + second)
    const a = await client.untilClosed()
    assert.equal(a.status, 403)
    assert.equal(a.body, FORBIDDEN)
    assert.deepEqual(a.headers.filter(([k]) => k === 'Connection'), [['Connection', 'close']])
    assert.equal(a.closed, true)
    assert.ok(await upClosed())
    assert.equal(up.tcpConnections, 1)
    assert.equal(upBytes().split('HTTP/1.1\r\n').length - 1, 1, 'exactly one request line upstream')
    assert.ok(!upBytes().includes('/api/v1/secrets'))
    const r = await front.results[0]
    assert.equal(r?.status, 403)
    assert.equal(r?.bytesOut, FORBIDDEN.length)
  })

  it('a redirect is relayed, never followed: one connection to the apiserver, the client connection closes', async () => {
    up.answer = (_h, s) => { s.write('HTTP/1.1 302 Found\r\nLocation: https://127.0.0.1:1/elsewhere\r\nContent-Length: 0\r\n\r\n') }
    const { client, front } = await attempt(wsRequest('/exec', []))
    const a = await client.untilClosed()
    assert.equal(a.status, 302)
    assert.equal(a.closed, true)
    assert.equal(up.tcpConnections, 1)
    assert.equal((await front.results[0])?.spliced, false)
  })

  it('an oversized answer head (over 16 KiB) → 502, the apiserver connection closed', async () => {
    up.answer = (_h, s) => { s.write(`HTTP/1.1 403 Forbidden\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`) }
    const { client, front } = await attempt(wsRequest('/exec', []))
    const a = await client.untilClosed()
    assert.equal(a.status, 502)
    assert.ok(!a.text.includes('aaaa'))
    assert.ok(await upClosed())
    assert.equal((await front.results[0])?.error?.failure, 'upstream_error')
  })

  it('a refusal body over maxRelayedBodyBytes → 502, not relayed', async () => {
    up.answer = (_h, s) => { s.write(`HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\n${'b'.repeat(100)}`) }
    const { client, front } = await attempt(wsRequest('/exec', []), { maxRelayedBodyBytes: 10 })
    const a = await client.untilClosed()
    assert.equal(a.status, 502)
    assert.ok(!a.text.includes('bbbb'))
    assert.equal((await front.results[0])?.error?.detail, 'upgrade: refusal body too large')
  })

  it('no answer within responseTimeoutMs → 504, the apiserver connection closed', async () => {
    up.answer = () => {}
    const { client, front } = await attempt(wsRequest('/exec', []), { responseTimeoutMs: 100 })
    const a = await client.untilClosed()
    assert.equal(a.status, 504)
    assert.ok(await upClosed())
    assert.equal((await front.results[0])?.error?.failure, 'upstream_timeout')
  })

  it('abort before the answer → 499, both sockets closed, done once', async () => {
    let answered = false
    up.answer = () => { answered = true }
    const { client, front } = await attempt(wsRequest('/exec', []))
    assert.ok(await eventually(() => answered), 'the request reached the apiserver')
    front.aborts[0]?.()
    front.aborts[0]?.()
    const a = await client.untilClosed()
    assert.equal(a.closed, true)
    assert.equal(a.text, '')
    assert.ok(await upClosed())
    assert.equal((await front.results[0])?.status, 499)
  })

  // Until the splice the client socket is not read, so a client's FIN is not seen before the answer (or the
  // response timeout); what ends the attempt is the socket being closed on kubegate's side (shutdown, an error).
  it('the client socket closed before the answer → 499, the apiserver connection closed', async () => {
    let answered = false
    up.answer = () => { answered = true }
    const { front } = await attempt(wsRequest('/exec', []))
    assert.ok(await eventually(() => answered))
    front.clientSockets[0]?.destroy()
    const r = await front.results[0]
    assert.equal(r?.status, 499)
    assert.ok(await upClosed())
  })
})

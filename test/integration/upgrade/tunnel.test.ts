/**
 * The tunnel against a scripted apiserver: the answers a real apiserver rarely gives but a proxy must
 * survive (a 101 for another protocol, a 101 without Connection: upgrade, no answer, a chunked refusal),
 * and the byte-level timing of the splice (nothing of the client's before the 101, half-close, teardown).
 */
import { after, before, beforeEach, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import type { TLSSocket } from 'node:tls'
import { startStack, type Stack } from '../../helpers/stack.js'
import {
  eventually, EXEC_PATH, header, rawConnect, sleep, spdyRequest, startScriptedUpstream, USER, wsRequest,
  type ScriptedUpstream,
} from './helpers.js'

const SWITCH_WS = 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: x\r\n'

describe('upgrade tunnel against a scripted apiserver', () => {
  let stack: Stack
  let up: ScriptedUpstream
  let token: string
  const sessions: Array<{ close: () => void }> = []

  before(async () => {
    const seed = await startStack()
    up = await startScriptedUpstream(seed.apiserver.tokenFile)
    stack = await startStack({
      peers: { issuer: seed.issuer, apiserver: seed.apiserver },
      config: {
        upstream: { server: up.url, caFile: up.caFile, timeoutSeconds: 1 },
        server: { upgradeIdleTimeoutSeconds: 1 },
      },
    })
    const close = stack.close
    stack.close = async () => { await close(); await seed.close(); await up.close() }
    token = await stack.issuer.token({ email: USER, groups: ['students'] })
  })
  after(async () => {
    for (const s of sessions) s.close()
    await stack?.close()
  })
  beforeEach(() => { up.connections.length = 0; up.sockets.length = 0; up.ended.length = 0 })

  async function send (text: string | Buffer): Promise<Awaited<ReturnType<typeof rawConnect>>> {
    const c = await rawConnect(stack.kg.url, stack.caPem)
    sessions.push(c)
    c.socket.write(text)
    return c
  }
  const upBytes = (i = 0): string => Buffer.concat(up.connections[i] ?? []).toString('latin1')

  test('bytes the client sent after its request reach the apiserver only after the 101', async () => {
    const early = Buffer.from([0x82, 0x83, 1, 2, 3, 4, 5, 6, 7]) // a WebSocket frame sent before the answer
    let atAnswer = ''
    let beforeSwitch = ''
    up.answer = (head, s) => {
      atAnswer = upBytes()
      setTimeout(() => {
        beforeSwitch = upBytes()
        s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n')
      }, 300)
      void head
    }
    const request = wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io'])
    const c = await send(Buffer.concat([Buffer.from(request, 'latin1'), early]))
    const a = await c.head()
    assert.equal(a.status, 101)
    assert.ok(atAnswer.endsWith('\r\n\r\n'), 'the apiserver got exactly one request head')
    assert.equal(beforeSwitch, atAnswer, 'nothing more arrived while the answer was pending')
    assert.ok(await eventually(() => upBytes().length === atAnswer.length + early.length), 'the early bytes arrived after the 101')
    assert.ok(Buffer.from(upBytes(), 'latin1').subarray(atAnswer.length).equals(early))
    // What kubegate sent: its own Connection/Upgrade, the offered protocol, the SA token, the identity.
    assert.match(atAnswer, /^GET \/api\/v1\/namespaces\/user01\/pods\/pod1\/exec\?command=cat&stdin=true&stdout=true&stderr=true HTTP\/1\.1\r\n/)
    assert.match(atAnswer, /\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Protocol: v5\.channel\.k8s\.io\r\n/)
    assert.match(atAnswer, /\r\nImpersonate-User: user01@example\.com\r\nImpersonate-Group: students\r\n/)
    assert.ok(!atAnswer.includes(token))
    c.close()
  })

  test('a 101 for another protocol, for a protocol not offered, with the token protocol, or without Connection: upgrade: 502, both sockets close', async () => {
    const answers = [
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\nConnection: Upgrade\r\n\r\n',
      SWITCH_WS + 'Sec-WebSocket-Protocol: v4.channel.k8s.io\r\n\r\n',
      SWITCH_WS + 'Sec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.eA\r\n\r\n',
      SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
    ]
    for (const [i, answer] of answers.entries()) {
      up.answer = (_h, s) => { s.write(answer + 'SECRET-STREAM-BYTES') }
      const c = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']) + 'EARLY')
      const a = await c.untilClosed(3000)
      assert.equal(a.status, 502, answer)
      assert.equal(a.closed, true)
      assert.ok(!a.text.includes('SECRET-STREAM-BYTES') && !a.text.includes('101'), 'nothing of the switched stream reaches the client')
      assert.ok(await eventually(() => up.sockets[i]?.destroyed === true || up.ended[i] === true, 3000), 'the apiserver connection is closed')
      assert.ok(!upBytes(i).includes('EARLY'), 'the client\'s early bytes never went upstream')
    }
  })

  test('an SPDY 101 is spliced; its X-Stream-Protocol-Version goes back to the client', async () => {
    up.answer = (_h, s) => { s.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\nFROM-UP') }
    const c = await send(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]))
    const a = await c.head()
    assert.equal(a.status, 101)
    assert.deepEqual(header(a, 'x-stream-protocol-version'), ['v4.channel.k8s.io'])
    assert.ok(await eventually(() => c.received().toString('latin1').endsWith('FROM-UP')))
    const sent = upBytes()
    assert.match(sent, /^POST /)
    assert.deepEqual(sent.split('\r\n').filter((l) => l.startsWith('X-Stream-Protocol-Version: ')).length, 4)
    assert.match(sent, /\r\nContent-Length: 0\r\n/)
    assert.ok(!/transfer-encoding/i.test(sent), 'no chunked framing on a bodiless upgrade POST')
    c.close()
  })

  test('a refusal is relayed whole and self-framed (chunked upstream → Content-Length), with Connection: close', async () => {
    const body = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pod has no host","reason":"BadRequest","code":400}'
    up.answer = (_h, s) => {
      const half = Math.floor(body.length / 2)
      s.write('HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: timeout=5\r\n\r\n')
      s.write(`${half.toString(16)}\r\n${body.slice(0, half)}\r\n`)
      setTimeout(() => s.write(`${(body.length - half).toString(16)}\r\n${body.slice(half)}\r\n0\r\n\r\n`), 50)
    }
    const c = await send(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]) + 'GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n')
    const a = await c.untilClosed(3000)
    assert.equal(a.status, 400)
    assert.equal(a.body, body)
    assert.deepEqual(header(a, 'content-length'), [String(body.length)])
    assert.deepEqual(header(a, 'connection'), ['close'])
    assert.deepEqual(header(a, 'transfer-encoding'), [])
    assert.deepEqual(header(a, 'x-hop'), [], 'headers the apiserver named in Connection stay on its hop')
    assert.deepEqual(header(a, 'keep-alive'), [])
    assert.equal(a.closed, true)
    assert.equal(up.connections.length, 1)
    assert.ok(!upBytes().includes('/api/v1/secrets'))
  })

  test('no answer from the apiserver: 504 after upstream.timeoutSeconds, the upstream connection closed', async () => {
    up.answer = () => {}
    const t0 = Date.now()
    const c = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    const a = await c.untilClosed(5000)
    assert.equal(a.status, 504)
    assert.ok(Date.now() - t0 >= 900 && Date.now() - t0 < 3000)
    assert.ok(await eventually(() => up.sockets[0]?.destroyed === true || up.ended[0] === true, 3000))
  })

  test('half-close: the client\'s FIN reaches the apiserver, which can still answer; its FIN then closes the client', async () => {
    let upSocket: TLSSocket | undefined
    up.answer = (_h, s) => { upSocket = s; s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n') }
    const c = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal((await c.head()).status, 101)
    c.socket.end('last words')
    assert.ok(await eventually(() => up.ended[0] === true, 3000), 'the apiserver saw the FIN')
    assert.ok(upBytes().endsWith('last words'))
    ;(upSocket as TLSSocket).write('reply after your FIN')
    assert.ok(await eventually(() => c.received().toString('latin1').endsWith('reply after your FIN'), 3000), 'the other direction still flows')
    ;(upSocket as TLSSocket).end()
    assert.equal((await c.untilClosed(3000)).closed, true)
  })

  test('either side going away closes the other', async () => {
    let upSocket: TLSSocket | undefined
    up.answer = (_h, s) => { upSocket = s; s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n') }
    const c1 = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal((await c1.head()).status, 101)
    ;(upSocket as TLSSocket).destroy()
    assert.equal((await c1.untilClosed(3000)).closed, true, 'apiserver gone: client closed')

    const c2 = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal((await c2.head()).status, 101)
    const s2 = upSocket as TLSSocket
    c2.socket.destroy()
    assert.ok(await eventually(() => s2.destroyed || up.ended[1] === true, 3000), 'client gone: apiserver connection closed')
    assert.ok(await eventually(() => stack.kg.sessions.count('upgrade') === 0, 3000), 'no session left registered')
  })

  test('an idle spliced session is closed after server.upgradeIdleTimeoutSeconds; traffic keeps it open', async () => {
    let upSocket: TLSSocket | undefined
    up.answer = (_h, s) => { upSocket = s; s.write(SWITCH_WS + 'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n') }
    const c = await send(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal((await c.head()).status, 101)
    // Traffic every 400 ms for 1.6 s (longer than the 1 s limit): still open.
    for (let i = 0; i < 4; i++) {
      await sleep(400)
      ;(upSocket as TLSSocket).write('tick')
    }
    assert.equal(c.socket.destroyed, false)
    const t0 = Date.now()
    const a = await c.untilClosed(4000)
    assert.equal(a.closed, true)
    assert.ok(Date.now() - t0 >= 700, 'closed by the idle limit, not at once')
    assert.ok(await eventually(() => (upSocket as TLSSocket).destroyed || up.ended[0] === true, 3000))
  })

  test('apiserver certificate from an untrusted CA: 502, no request bytes written', async () => {
    const bad = await startScriptedUpstream(up.tokenFile, { untrusted: true })
    const s = await startStack({
      peers: { issuer: stack.issuer, apiserver: stack.apiserver },
      config: { upstream: { server: bad.url, caFile: up.caFile } },
    })
    try {
      const c = await rawConnect(s.kg.url, s.caPem)
      c.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
      const a = await c.untilClosed(5000)
      c.close()
      assert.equal(a.status, 502)
      assert.equal(bad.connections.length, 0, 'no TLS session, so no bytes of the request')
      // (the readiness probe of the apiserver connects too: it fails the same way)
      assert.ok(bad.tcpConnections >= 1, 'kubegate did connect, and stopped at the handshake')
    } finally {
      await s.close()
      await bad.close()
    }
  })
})

/**
 * docs/security.md's upgrade cases (and the classes they stand for), each asserting what the apiserver double
 * received on the wire: raw sockets on the client side, so every byte kubegate writes back is visible.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { WebSocket } from 'ws'
import { headerLines, type RecordedUpgrade } from '../../helpers/apiserver.js'
import { httpsRequest } from '../../helpers/https-get.js'
import type { Stack } from '../../helpers/stack.js'
import { KubegateError } from '../../../src/errors.js'
import {
  EXEC_PATH, eventually, header, NS, OTHER_NS, OTHER_POD, POD, rawConnect, sleep, spdyRequest, startUpgradeStack, USER,
  wsFrame, wsFrames, wsRequest, type RawAnswer,
} from './helpers.js'

const BEARER = 'base64url.bearer.authorization.k8s.io.'
const b64 = (s: string): string => Buffer.from(s).toString('base64url')
const tokenHash = (t: string): string => createHash('sha256').update(t).digest('base64url')

describe('upgrade security cases (docs/security.md)', () => {
  let stack: Stack
  let token: string
  const revoked = new Set<string>()

  before(async () => {
    stack = await startUpgradeStack({
      config: { server: { maxUpgradesPerUser: 3 } },
      start: {
        // Stands in for the revocation store: the same admission hook runs on both paths.
        admissions: [(auth) => revoked.has(auth.tokenHash) ? new KubegateError('KG_ERR_REVOKED', undefined, { failure: 'revoked' }) : undefined],
      },
    })
    token = await stack.issuer.token({ email: USER, groups: ['students'] })
  })
  after(async () => { await stack?.close() })

  /** Sends `text`, waits until kubegate closes the socket, and checks that nothing at all reached the apiserver. */
  async function refusedWithZeroUpstream (text: string): Promise<RawAnswer> {
    const reqs = stack.apiserver.requests.length
    const conns = stack.apiserver.connections
    const tcp = stack.apiserver.tcpConnections
    const c = await rawConnect(stack.kg.url, stack.caPem)
    c.socket.write(text)
    const a = await c.untilClosed(5000)
    c.close()
    await sleep(50)
    assert.equal(a.closed, true, 'kubegate closed the socket')
    assert.equal(stack.apiserver.requests.length, reqs, 'no request upstream')
    assert.equal(stack.apiserver.connections, conns, 'no TLS connection upstream')
    assert.equal(stack.apiserver.tcpConnections, tcp, 'no TCP connection upstream')
    assert.equal(header(a, 'connection')[0], 'close')
    assert.equal(header(a, 'content-type')[0], 'application/json')
    return a
  }

  function statusOf (a: RawAnswer): { code: number, reason: string, message: string } {
    return JSON.parse(a.body) as { code: number, reason: string, message: string }
  }

  test('WebSocket and SPDY upgrades with no token: 401 on the socket, socket closed, zero upstream', async () => {
    for (const text of [wsRequest(EXEC_PATH, ['Sec-WebSocket-Protocol: v5.channel.k8s.io']), spdyRequest(EXEC_PATH, [])]) {
      const a = await refusedWithZeroUpstream(text)
      assert.equal(a.status, 401)
      assert.deepEqual(statusOf(a), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })
    }
  })

  test('expired token on an upgrade: 401 (never 403), zero upstream', async () => {
    const expired = await stack.issuer.token({ email: USER, exp: Math.floor(Date.now() / 1000) - 61 - 60 })
    const a = await refusedWithZeroUpstream(wsRequest(EXEC_PATH, [`Authorization: Bearer ${expired}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal(a.status, 401)
    const b = await refusedWithZeroUpstream(wsRequest(EXEC_PATH, [`Sec-WebSocket-Protocol: ${BEARER}${b64(expired)}, v5.channel.k8s.io`]))
    assert.equal(b.status, 401)
  })

  test('revoked token on an upgrade: 401 with zero upstream; revoking ends a live exec session', async () => {
    const t = await stack.issuer.token({ email: USER, groups: ['students'], jti: 'revoke-me' })
    // A live session first.
    const c = await rawConnect(stack.kg.url, stack.caPem)
    c.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${t}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal((await c.head()).status, 101)
    revoked.add(tokenHash(t))
    try {
      const n = stack.kg.sessions.closeWhere((s) => revoked.has(s.tokenHash))
      assert.equal(n, 1)
      assert.equal((await c.untilClosed(3000)).closed, true, 'the spliced session was closed')
      const a = await refusedWithZeroUpstream(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${t}`]))
      assert.equal(a.status, 401)
      assert.equal(statusOf(a).message, 'Unauthorized: the credentials were revoked')
    } finally {
      revoked.clear()
      c.close()
    }
  })

  test('token only in the bearer subprotocol plus v5.channel.k8s.io: forwarded with only v5; the 101 never carries the token protocol', async () => {
    const before = stack.apiserver.upgrades.length
    const c = await rawConnect(stack.kg.url, stack.caPem)
    c.socket.write(wsRequest(EXEC_PATH, [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}, v5.channel.k8s.io`]))
    const a = await c.head()
    try {
      assert.equal(a.status, 101)
      assert.deepEqual(header(a, 'sec-websocket-protocol'), ['v5.channel.k8s.io'])
      assert.ok(!a.text.includes(BEARER) && !a.text.includes(b64(token)), 'no token protocol in the 101')
      const u = stack.apiserver.upgrades[before] as RecordedUpgrade
      assert.deepEqual(u.offered, ['v5.channel.k8s.io'])
      assert.deepEqual(headerLines(u.rawHeaders, 'sec-websocket-protocol'), ['v5.channel.k8s.io'])
      assert.deepEqual(headerLines(u.rawHeaders, 'authorization'), [`Bearer ${stack.apiserver.token}`])
      assert.deepEqual(headerLines(u.rawHeaders, 'impersonate-user'), [USER])
      assert.ok(!u.rawHeaders.join('\n').includes(b64(token)))
      // And the session works end to end: stdin, the v5 stdin close, stdout, the exit Status, close 1000.
      c.socket.write(Buffer.concat([wsFrame(Buffer.from('\x00hi there')), wsFrame(Buffer.from([255, 0]))]))
      const framesAfter101 = (): Array<[number, Buffer]> => {
        const all = c.received()
        return wsFrames(all.subarray(all.indexOf('\r\n\r\n') + 4))
      }
      assert.ok(await eventually(() => framesAfter101().some(([op]) => op === 8), 5000), 'the apiserver closed the WebSocket')
      // Complete the closing handshake; then the TCP connection closes end to end.
      c.socket.write(wsFrame(Buffer.from([0x03, 0xe8]), 0x8))
      assert.equal((await c.untilClosed(5000)).closed, true)
      const frames = framesAfter101()
      const stdout = frames.filter(([op, p]) => op === 2 && p[0] === 1).map(([, p]) => p.subarray(1).toString()).join('')
      assert.equal(stdout, 'hi there')
      const statusFrame = frames.find(([op, p]) => op === 2 && p[0] === 3)
      assert.deepEqual(JSON.parse((statusFrame as [number, Buffer])[1].subarray(1).toString()), { metadata: {}, status: 'Success' })
      const close = frames.find(([op]) => op === 8) as [number, Buffer]
      assert.equal(close[1].readUInt16BE(0), 1000)
    } finally {
      c.close()
    }
  })

  /** Every answer must be the apiserver's: 401 Unauthorized, as its request authenticators fail these requests. */
  async function unauthorizedWithZeroUpstream (cases: string[][], request = wsRequest): Promise<void> {
    for (const lines of cases) {
      const a = await refusedWithZeroUpstream(request(EXEC_PATH, lines))
      assert.equal(a.status, 401, lines.join(' | '))
      assert.deepEqual(statusOf(a), { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })
    }
  }

  // Case by case as the apiserver's WebSocket ProtocolAuthenticator (authentication/request/websocket/protocol.go):
  // each of these is an authentication error there, so 401, and nothing reaches the apiserver.
  test('bearer subprotocol alone (no other subprotocol): 401, zero upstream', async () => {
    await unauthorizedWithZeroUpstream([[`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}`]])
  })

  test('two bearer subprotocols, the same token or two different ones, on one line or two: 401, zero upstream', async () => {
    const other = await stack.issuer.token({ email: 'user02@example.com', groups: ['students'] })
    await unauthorizedWithZeroUpstream([
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}, ${BEARER}${b64(token)}, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}, ${BEARER}${b64(other)}, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}`, `Sec-WebSocket-Protocol: ${BEARER}${b64(token)}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io'],
      ['Sec-WebSocket-Protocol: v5.channel.k8s.io', `Sec-WebSocket-Protocol: ${BEARER}${b64(other)}, ${BEARER}${b64(token)}`],
    ])
  })

  test('padded or invalid base64url, an empty token, a token that is not UTF-8: 401, zero upstream', async () => {
    await unauthorizedWithZeroUpstream([
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}==, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}${Buffer.from(token).toString('base64')}, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token)}.x, v5.channel.k8s.io`],
      // Go's RawURLEncoding refuses a length of 1 mod 4; Node's decoder would drop the last character.
      [`Sec-WebSocket-Protocol: ${BEARER}${b64(token.slice(0, token.length - (token.length % 3)))}A, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}, v5.channel.k8s.io`],
      [`Sec-WebSocket-Protocol: ${BEARER}${Buffer.from([0x65, 0x79, 0xff, 0xfe]).toString('base64url')}, v5.channel.k8s.io`],
    ])
  })

  test('a token in both Authorization and the subprotocol: 401, zero upstream', async () => {
    await unauthorizedWithZeroUpstream([[`Authorization: Bearer ${token}`, `Sec-WebSocket-Protocol: ${BEARER}${b64(token)}, v5.channel.k8s.io`]])
  })

  test('Authorization: Bearer and two spaces before a valid token: 401, zero upstream, on WebSocket and SPDY', async () => {
    const lines = [[`Authorization: Bearer  ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io'], [`Authorization: bearer   ${token}`]]
    await unauthorizedWithZeroUpstream(lines)
    await unauthorizedWithZeroUpstream(lines, spdyRequest)
  })

  test('a token with a comma in a group value: 401, zero upstream, on WebSocket and SPDY', async () => {
    for (const groups of [['students', 'a,b'], 'dev,system:masters']) {
      const t = await stack.issuer.token({ email: USER, groups })
      await unauthorizedWithZeroUpstream([[`Sec-WebSocket-Protocol: ${BEARER}${b64(t)}, v5.channel.k8s.io`], [`Authorization: Bearer ${t}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']])
      await unauthorizedWithZeroUpstream([[`Authorization: Bearer ${t}`]], spdyRequest)
    }
  })

  test('Upgrade: h2c (and anything but websocket / SPDY/3.1): 400, zero upstream', async () => {
    for (const proto of ['h2c', 'TLS/1.2', 'websocket, h2c', 'SPDY/3']) {
      const text = `GET /api/v1/namespaces/${NS}/pods HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\n` +
        `Upgrade: ${proto}\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAuthorization: Bearer ${token}\r\n\r\n`
      const a = await refusedWithZeroUpstream(text)
      assert.equal(a.status, 400, proto)
      assert.equal(statusOf(a).message, 'only websocket and SPDY/3.1 upgrades are supported')
    }
  })

  test('Impersonate-* / X-Remote-* on an upgrade: 403 (500 for a group/uid/extra without a user), zero upstream', async () => {
    // Behaviour change (issue 13): without a user the apiserver's 500; `Impersonate-User` is asked with a SAR
    // (below); the names kubegate never interprets stay 403.
    for (const [h, code] of [['impersonate-group: system:masters', 500], ['IMPERSONATE-UID: 1', 500], ['Impersonate_User: admin', 403],
      ['Impersonate-Extra-scopes: x', 500], ['X-Remote-User: admin', 403]] as const) {
      for (const text of [wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io', h]), spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, h])]) {
        const a = await refusedWithZeroUpstream(text)
        assert.equal(a.status, code, h)
        assert.equal(statusOf(a).reason, code === 403 ? 'Forbidden' : 'InternalError')
      }
    }
    // An impersonation RBAC does not allow: the apiserver's 403; only kubegate's SubjectAccessReview went up.
    for (const text of [wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io', 'Impersonate-User: admin']),
      spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Impersonate-User: admin'])]) {
      const reqs = stack.apiserver.requests.length
      const upgrades = stack.apiserver.upgradeRequests
      const c = await rawConnect(stack.kg.url, stack.caPem)
      c.socket.write(text)
      const a = await c.untilClosed(5000)
      c.close()
      assert.equal(a.status, 403)
      assert.match(statusOf(a).message, /^users "admin" is forbidden: User "user01@example\.com" cannot impersonate resource "users"/)
      // The first asks; the second may be answered from the short denied-answer cache.
      assert.deepEqual(stack.apiserver.requests.slice(reqs).map((r) => r.url).filter((u) => u !== '/apis/authorization.k8s.io/v1/subjectaccessreviews'), [])
      assert.equal(stack.apiserver.upgradeRequests, upgrades)
    }
    // Authentication answers first: the same header without a token is a 401.
    const a = await refusedWithZeroUpstream(wsRequest(EXEC_PATH, ['Impersonate-User: admin', 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
    assert.equal(a.status, 401)
  })

  test('Connection: Upgrade, Impersonate-User, Impersonate-Group, Authorization: forwarded with kubegate\'s identity intact', async () => {
    const before = stack.apiserver.upgrades.length
    const c = await rawConnect(stack.kg.url, stack.caPem)
    try {
      c.socket.write(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]).replace('Connection: Upgrade\r\n', 'Connection: Upgrade, Impersonate-User, Impersonate-Group, Authorization\r\n'))
      assert.equal((await c.head()).status, 101)
      const u = stack.apiserver.upgrades[before] as RecordedUpgrade
      assert.deepEqual(headerLines(u.rawHeaders, 'authorization'), [`Bearer ${stack.apiserver.token}`])
      assert.deepEqual(headerLines(u.rawHeaders, 'impersonate-user'), [USER])
      assert.deepEqual(headerLines(u.rawHeaders, 'impersonate-group'), ['students'])
      assert.deepEqual(headerLines(u.rawHeaders, 'connection'), ['Upgrade'])
      assert.deepEqual(u.identity, { user: USER, groups: ['students', 'system:authenticated'] })
    } finally {
      c.close()
    }
  })

  test('CVE-2018-1002105: an upgrade the apiserver refuses (403) with a second request in the same packet', async () => {
    const reqs = stack.apiserver.requests.length
    const conns = stack.apiserver.connections
    const forbiddenExec = `/api/v1/namespaces/${OTHER_NS}/pods/${OTHER_POD}/exec?command=cat&stdin=true&stdout=true`
    const smuggled = 'GET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\nHost: localhost\r\n\r\n'
    for (const first of [
      wsRequest(forbiddenExec, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']),
      spdyRequest(forbiddenExec, [`Authorization: Bearer ${token}`]),
    ]) {
      const c = await rawConnect(stack.kg.url, stack.caPem)
      c.socket.write(first + smuggled)
      const h = await c.head()
      // And once more after the refusal arrived, on the same socket, in case it stayed open.
      c.socket.write(smuggled)
      const a = await c.untilClosed(5000)
      c.close()
      assert.equal(h.status, 403)
      assert.equal(a.closed, true, 'the client socket is closed')
      assert.equal(header(a, 'connection')[0], 'close')
      const body = JSON.parse(a.body) as { message: string, reason: string }
      assert.equal(body.reason, 'Forbidden')
      assert.match(body.message, /cannot (get|create) resource "pods\/exec" in API group "" in the namespace "default"/)
      assert.equal(a.text.split('HTTP/1.1 ').length - 1, 1, 'exactly one response')
    }
    await sleep(100)
    const seen = stack.apiserver.requests.slice(reqs)
    assert.deepEqual(seen.map((r) => [r.method, r.url.split('?')[0], r.statusCode]), [
      ['GET', `/api/v1/namespaces/${OTHER_NS}/pods/${OTHER_POD}/exec`, 403],
      ['POST', `/api/v1/namespaces/${OTHER_NS}/pods/${OTHER_POD}/exec`, 403],
    ], 'upstream saw exactly one request per upgrade, never the smuggled one')
    assert.equal(stack.apiserver.connections, conns + 2, 'one fresh connection each, closed after the refusal')
    assert.ok(!stack.apiserver.requests.some((r) => r.url.includes('/secrets')))
  })

  test('302 on an upgrade is relayed, never followed', async () => {
    stack.apiserver.redirect(`/api/v1/namespaces/${NS}/pods/${POD}/exec`, 'https://elsewhere.invalid/api/v1/namespaces/kube-system/secrets')
    const reqs = stack.apiserver.requests.length
    try {
      const c = await rawConnect(stack.kg.url, stack.caPem)
      c.socket.write(wsRequest(EXEC_PATH, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']))
      const a = await c.untilClosed(5000)
      c.close()
      assert.equal(a.status, 302)
      assert.deepEqual(header(a, 'location'), ['https://elsewhere.invalid/api/v1/namespaces/kube-system/secrets'])
      assert.deepEqual(header(a, 'connection'), ['close'])
      assert.equal(a.closed, true)
      assert.equal(stack.apiserver.requests.length, reqs + 1, 'the redirect target was not requested')
      assert.ok(!a.text.includes(stack.apiserver.token))
    } finally {
      stack.apiserver.clearOverrides()
    }
  })

  test('per-user upgrade cap: 429 beyond it, attempts still waiting for the apiserver count, zero upstream for the refused one', async () => {
    const cap = stack.config.server.maxUpgradesPerUser
    assert.equal(cap, 3)
    // Hold the apiserver's answers so every attempt is still pending when the next one arrives.
    stack.apiserver.delay(400, `/api/v1/namespaces/${NS}/pods/${POD}/exec`)
    const clients = await Promise.all(Array.from({ length: cap + 1 }, () => rawConnect(stack.kg.url, stack.caPem)))
    try {
      const upgradesBefore = stack.apiserver.upgradeRequests
      for (const c of clients) c.socket.write(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]))
      const answers = await Promise.all(clients.map((c) => c.head()))
      const statuses = answers.map((a) => a.status).sort()
      assert.deepEqual(statuses, [101, 101, 101, 429])
      const refused = answers.find((a) => a.status === 429) as RawAnswer
      assert.deepEqual(header(refused, 'retry-after'), ['5'])
      assert.equal(JSON.parse(refused.body).reason, 'TooManyRequests')
      assert.equal(stack.apiserver.upgradeRequests, upgradesBefore + cap)
      // Another user is not affected by this user's cap.
      const other = await stack.issuer.token({ email: 'user02@example.com' })
      const c2 = await rawConnect(stack.kg.url, stack.caPem)
      c2.socket.write(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${other}`]))
      assert.equal((await c2.head()).status, 403, 'user02 reaches the apiserver (which forbids it)')
      c2.close()
    } finally {
      stack.apiserver.clearOverrides()
      for (const c of clients) c.close()
    }
    // Closing the sessions frees the slots.
    assert.ok(await eventually(() => stack.kg.sessions.count('upgrade', USER) === 0, 3000))
    const c = await rawConnect(stack.kg.url, stack.caPem)
    c.socket.write(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]))
    assert.equal((await c.head()).status, 101)
    c.close()
  })

  test('each upgrade is a new TLS connection, never the pool\'s, never reused', async () => {
    // A plain request first, so the pool holds an idle connection the upgrades could (wrongly) take.
    const plainBefore = stack.apiserver.requests.length
    const v = await httpsRequest(`${stack.kg.url}/version`, { ca: stack.caPem, headers: { authorization: `Bearer ${token}` } })
    assert.equal(v.status, 200)
    const pooled = (stack.apiserver.requests[plainBefore] as { connection: number }).connection
    const conns = stack.apiserver.connections
    const reqs = stack.apiserver.requests.length
    const ids: number[] = []
    for (let i = 0; i < 3; i++) {
      const c = await rawConnect(stack.kg.url, stack.caPem)
      c.socket.write(spdyRequest(EXEC_PATH, [`Authorization: Bearer ${token}`]))
      assert.equal((await c.head()).status, 101)
      c.close()
    }
    assert.ok(await eventually(() => stack.apiserver.requests.length === reqs + 3))
    for (const r of stack.apiserver.requests.slice(reqs)) ids.push(r.connection)
    assert.equal(new Set(ids).size, 3, 'three distinct connections')
    assert.equal(stack.apiserver.connections, conns + 3)
    const plain = new Set(stack.apiserver.requests.filter((r) => !r.upgrade).map((r) => r.connection))
    assert.ok(plain.has(pooled))
    for (const id of ids) assert.ok(!plain.has(id), 'an upgrade never rides a pooled connection')
    // The pooled connection is still usable afterwards: the upgrades did not take it over.
    const v2 = await httpsRequest(`${stack.kg.url}/version`, { ca: stack.caPem, headers: { authorization: `Bearer ${token}` } })
    assert.equal(v2.status, 200)
    assert.equal(stack.apiserver.requests.at(-1)?.connection, pooled)
  })

  test('4 MiB through exec cat over WebSocket v5: every byte, in order (backpressure both ways)', async () => {
    const ws = new WebSocket(`${stack.kg.url.replace('https', 'wss')}${EXEC_PATH}`, ['v5.channel.k8s.io'], {
      headers: { Authorization: `Bearer ${token}` }, ca: stack.caPem, perMessageDeflate: false,
    })
    const chunks: Buffer[] = []
    const size = 4 * 1024 * 1024
    const sent = Buffer.alloc(size)
    for (let i = 0; i < size; i++) sent[i] = (i * 7 + (i >> 11)) & 0xff
    const result = await new Promise<{ code: number, status: string }>((resolve, reject) => {
      const t = setTimeout(() => { ws.terminate(); reject(new Error('timeout')) }, 30_000)
      let status = ''
      ws.on('open', () => {
        for (let off = 0; off < size; off += 32 * 1024) ws.send(Buffer.concat([Buffer.from([0]), sent.subarray(off, off + 32 * 1024)]))
        ws.send(Buffer.from([255, 0]))
      })
      ws.on('message', (d: Buffer) => {
        if (d[0] === 1) chunks.push(d.subarray(1))
        else if (d[0] === 3) status = d.subarray(1).toString()
      })
      ws.on('close', (code) => { clearTimeout(t); resolve({ code, status }) })
      ws.on('error', (e) => { clearTimeout(t); reject(e) })
    })
    assert.equal(result.code, 1000)
    assert.deepEqual(JSON.parse(result.status), { metadata: {}, status: 'Success' })
    assert.ok(Buffer.concat(chunks).equals(sent), 'echoed bytes equal the sent bytes')
  })
})

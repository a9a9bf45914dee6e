import assert from 'node:assert/strict'
import { once } from 'node:events'
import { Agent, createServer, request, STATUS_CODES, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import { PassThrough } from 'node:stream'
import { describe, it } from 'node:test'
import { ERRORS, KubegateError, type ErrorCode } from '../../../src/errors.js'
import { errorBody, sendStatus, sendStatusToSocket, statusBody, statusBuffer } from '../../../src/k8s/status.js'

const CODES = Object.keys(ERRORS) as ErrorCode[]

describe('statusBody / statusBuffer', () => {
  it('statusBody builds a Kubernetes Status object', () => {
    assert.deepEqual(JSON.parse(statusBody(401, 'Unauthorized', 'Unauthorized')), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401,
    })
  })

  for (const code of CODES) {
    it(`${code}: valid Status JSON with kind/apiVersion/status/code/reason/message`, () => {
      const body = JSON.parse(statusBuffer(code).toString('utf8')) as Record<string, unknown>
      assert.equal(body.kind, 'Status')
      assert.equal(body.apiVersion, 'v1')
      assert.equal(body.status, 'Failure')
      assert.equal(body.code, ERRORS[code].status)
      assert.equal(body.reason, ERRORS[code].reason)
      assert.equal(body.message, ERRORS[code].message)
      assert.deepEqual(body.metadata, {})
    })
  }

  it('an error carrying the apiserver\'s own message: that message and its details, in the apiserver\'s field order', () => {
    const err = new KubegateError('KG_ERR_IMPERSONATION_FORBIDDEN', undefined, {
      message: 'users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
      details: { name: 'bob', group: '', kind: 'users' },
    })
    assert.equal(errorBody(err).toString('utf8'), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",' +
      '"message":"users \\"bob\\" is forbidden: User \\"alice\\" cannot impersonate resource \\"users\\" in API group \\"\\" at the cluster scope",' +
      '"reason":"Forbidden","details":{"name":"bob","kind":"users"},"code":403}')
    assert.equal(errorBody(new KubegateError('KG_ERR_NO_TOKEN', 'detail')), statusBuffer('KG_ERR_NO_TOKEN'), 'fixed bodies stay precomputed')
  })

  it('bodies never contain request data, whatever the error detail was', () => {
    for (const code of CODES) {
      const err = new KubegateError(code, 'Bearer eyJhbGciOiJSUzI1NiJ9.secret alice@example.com /api/v1/secrets')
      const text = statusBuffer(err.code).toString('utf8')
      assert.ok(!text.includes('eyJ'), code)
      assert.ok(!text.includes('alice'), code)
      assert.ok(!text.includes('/api/v1/secrets'), code)
    }
  })

  it('the 401 message gives kubectl "(Unauthorized)"', () => {
    const body = JSON.parse(statusBuffer('KG_ERR_NO_TOKEN').toString()) as { message: string }
    assert.equal(body.message, 'Unauthorized')
  })

  it('buffers are precomputed (same Buffer each time)', () => {
    assert.equal(statusBuffer('KG_ERR_BAD_TOKEN'), statusBuffer('KG_ERR_BAD_TOKEN'))
  })
})

function parseRawResponse (raw: Buffer): { statusLine: string, headers: Map<string, string>, body: Buffer } {
  const sep = raw.indexOf('\r\n\r\n')
  assert.ok(sep > 0, 'no header terminator')
  const lines = raw.subarray(0, sep).toString('latin1').split('\r\n')
  const headers = new Map<string, string>()
  for (const l of lines.slice(1)) {
    const c = l.indexOf(':')
    assert.ok(c > 0, `bad header line ${l}`)
    headers.set(l.slice(0, c).toLowerCase(), l.slice(c + 1).trim())
  }
  return { statusLine: lines[0] as string, headers, body: raw.subarray(sep + 4) }
}

async function collect (s: PassThrough): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of s) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

describe('sendStatusToSocket', () => {
  for (const code of CODES) {
    it(`${code}: parseable HTTP/1.1 response with Content-Length and Connection: close`, async () => {
      const socket = new PassThrough()
      const err = new KubegateError(code)
      sendStatusToSocket(socket, err)
      const raw = await collect(socket)
      const { statusLine, headers, body } = parseRawResponse(raw)
      assert.match(statusLine, new RegExp(`^HTTP/1\\.1 ${ERRORS[code].status} [A-Za-z ]+$`))
      assert.equal(statusLine, `HTTP/1.1 ${ERRORS[code].status} ${STATUS_CODES[ERRORS[code].status] ?? ''}`)
      assert.equal(headers.get('connection'), 'close')
      assert.equal(headers.get('content-type'), 'application/json')
      assert.equal(Number(headers.get('content-length')), body.length)
      assert.equal((JSON.parse(body.toString()) as { code: number }).code, ERRORS[code].status)
      assert.equal(socket.writableEnded, true)
    })
  }

  it('adds Retry-After (rounded up, at least 1) when set', async () => {
    const socket = new PassThrough()
    sendStatusToSocket(socket, new KubegateError('KG_ERR_VERIFIER_BUSY', undefined, { retryAfter: 0.2 }))
    const { headers } = parseRawResponse(await collect(socket))
    assert.equal(headers.get('retry-after'), '1')
  })

  it('writes nothing to a destroyed socket', () => {
    const socket = new PassThrough()
    socket.destroy()
    sendStatusToSocket(socket, new KubegateError('KG_ERR_NO_TOKEN'))
    assert.equal(socket.writableLength, 0)
  })

  it('a real HTTP client parses it', async () => {
    const server = createServer()
    server.on('upgrade', (_req, socket) => sendStatusToSocket(socket, new KubegateError('KG_ERR_NO_TOKEN')))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    try {
      const { port } = server.address() as AddressInfo
      const req = request({ host: '127.0.0.1', port, path: '/api/v1/pods', headers: { Connection: 'Upgrade', Upgrade: 'websocket' } })
      req.end()
      const [res] = await once(req, 'response') as [IncomingMessage]
      assert.equal(res.statusCode, 401)
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      assert.equal((JSON.parse(Buffer.concat(chunks).toString()) as { reason: string }).reason, 'Unauthorized')
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })
})

describe('sendStatus (ServerResponse)', () => {
  async function roundTrip (err: KubegateError, close: boolean): Promise<{ status: number, headers: IncomingMessage['headers'], body: string }> {
    const server = createServer((_req, res) => sendStatus(res, err, close))
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const agent = new Agent({ keepAlive: true })
    try {
      const { port } = server.address() as AddressInfo
      const req = request({ host: '127.0.0.1', port, path: '/', agent })
      req.end()
      const [res] = await once(req, 'response') as [IncomingMessage]
      const chunks: Buffer[] = []
      for await (const c of res) chunks.push(c as Buffer)
      return { status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }
    } finally {
      agent.destroy()
      server.closeAllConnections()
      server.close()
    }
  }

  it('answers with the status, JSON body, no-store, and Connection: close when asked', async () => {
    const r = await roundTrip(new KubegateError('KG_ERR_IDENTITY_HEADERS'), true)
    assert.equal(r.status, 403)
    assert.equal(r.headers['content-type'], 'application/json')
    assert.equal(r.headers['cache-control'], 'no-store')
    assert.equal(r.headers.connection, 'close')
    assert.equal(Number(r.headers['content-length']), Buffer.byteLength(r.body))
    assert.equal((JSON.parse(r.body) as { reason: string }).reason, 'Forbidden')
  })

  it('keeps the connection when not asked to close, and sets Retry-After', async () => {
    const r = await roundTrip(new KubegateError('KG_ERR_ISSUER_UNAVAILABLE', undefined, { retryAfter: 5 }), false)
    assert.equal(r.status, 503)
    assert.notEqual(r.headers.connection, 'close')
    assert.equal(r.headers['retry-after'], '5')
  })
})

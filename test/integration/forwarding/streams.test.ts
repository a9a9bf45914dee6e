/**
 * Forwarding behaviour found by the bench: watches beyond the pooled connection count must still be answered,
 * and a refused request without a body keeps its connection (no TLS handshake per refused request).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { connect } from 'node:tls'
import { startStack, type Stack } from '../../helpers/stack.js'


function open (s: Stack, token: string, path: string, agent: HttpsAgent): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const u = new URL(s.kg.url)
    const req = httpsRequest({ host: u.hostname, port: u.port, path, agent, ca: s.issuer.caPem, headers: { authorization: `Bearer ${token}` } }, resolve)
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error(`no answer for ${path}`)))
    req.end()
  })
}

describe('forwarding: long-running requests and refusals', () => {
  let s: Stack
  before(async () => {
    s = await startStack({ config: { upstream: { maxConnections: 2 }, log: { level: 'warn' } } })
  })
  after(async () => { await s.close() })

  it('more open watches than pooled upstream connections are all answered, and short requests still pass', async () => {
    const token = await s.issuer.token({ email: 'user01@example.com' })
    const agent = new HttpsAgent({ keepAlive: false, maxSockets: Infinity })
    const watches: IncomingMessage[] = []
    try {
      for (let i = 0; i < 5; i++) watches.push(await open(s, token, '/api/v1/namespaces/user01/pods?watch=1', agent))
      for (const w of watches) assert.equal(w.statusCode, 200)
      assert.equal(s.apiserver.openWatches, 5, 'every watch is open upstream at once')
      const list = await open(s, token, '/api/v1/namespaces/user01/pods', agent)
      assert.equal(list.statusCode, 200)
      list.resume()
    } finally {
      for (const w of watches) w.destroy()
      agent.destroy()
    }
  })

  it('a refused GET keeps the connection; a refused request with a body closes it', async () => {
    const u = new URL(s.kg.url)
    const socket = connect({ host: u.hostname, port: Number(u.port), ca: s.issuer.caPem, servername: 'localhost' })
    let received = ''
    let ended = false
    socket.setEncoding('latin1')
    socket.on('data', (d: string) => { received += d })
    socket.on('end', () => { ended = true })
    const waitFor = async (n: number): Promise<void> => {
      for (let i = 0; i < 100 && (received.match(/HTTP\/1\.1 401/g) ?? []).length < n && !ended; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    try {
      await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject) })
      for (let n = 1; n <= 2; n++) {
        socket.write(`GET /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not-a-jwt-${n}\r\n\r\n`)
        await waitFor(n)
        assert.equal((received.match(/HTTP\/1\.1 401/g) ?? []).length, n, received)
      }
      assert.equal(ended, false, 'the server closed the connection after a refused GET')
      assert.doesNotMatch(received, /connection: close/i)
    } finally {
      socket.destroy()
    }
    const posted = await new Promise<IncomingMessage>((resolve, reject) => {
      const u = new URL(s.kg.url)
      const req = httpsRequest({ host: u.hostname, port: u.port, method: 'POST', path: '/api/v1/namespaces/user01/pods', ca: s.issuer.caPem, headers: { authorization: 'Bearer x', 'content-type': 'application/json', 'content-length': '2' } }, resolve)
      req.on('error', reject)
      req.end('{}')
    })
    assert.equal(posted.statusCode, 401)
    assert.equal(posted.headers.connection, 'close')
    posted.resume()
  })
})

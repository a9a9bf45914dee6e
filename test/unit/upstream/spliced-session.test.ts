// Unit tests of a spliced session over two real loopback TCP connections: writes at start, half-close, idle timeout, close.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { afterEach, describe, it } from 'node:test'
import { SplicedSession, type SplicedSessionOptions } from '../../../src/upstream/spliced-session.js'

/** A loopback TCP connection, both ends half-open capable: `[near, far]` (kubegate's end, the peer's end). */
async function connection (): Promise<[Socket, Socket]> {
  const server = createServer({ allowHalfOpen: true })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const far = connect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', allowHalfOpen: true })
  const [near] = await once(server, 'connection') as [Socket]
  server.close()
  open.push(near, far)
  return [near, far]
}

/** Collects what a peer receives; `until` resolves once `pred` holds on it. */
function reader (s: Socket): { bytes: () => Buffer, ended: Promise<void>, gone: Promise<void>, until: (pred: (b: Buffer) => boolean) => Promise<Buffer> } {
  const chunks: Buffer[] = []
  const waiters: Array<() => void> = []
  s.on('data', (d: Buffer) => { chunks.push(d); for (const w of [...waiters]) w() })
  s.on('error', () => {})
  const bytes = (): Buffer => Buffer.concat(chunks)
  return {
    bytes,
    ended: once(s, 'end').then(() => undefined),
    // The peer's end of a connection kubegate closed: a FIN, or a reset (both ends are half-open capable, so no 'close').
    gone: new Promise<void>((resolve) => { s.once('end', resolve); s.once('close', () => resolve()) }),
    until: async (pred) => await new Promise<Buffer>((resolve) => {
      const check = (): void => { if (pred(bytes())) { waiters.splice(waiters.indexOf(check), 1); resolve(bytes()) } }
      waiters.push(check)
      check()
    }),
  }
}

const open: Socket[] = []
afterEach(() => { for (const s of open.splice(0)) s.destroy() })

interface Spliced { session: SplicedSession, client: Socket, apiserver: Socket, ended: Promise<void> }

async function splice (options: Partial<SplicedSessionOptions> = {}, heads: { up?: Buffer, client?: Buffer } = {}): Promise<Spliced> {
  const [clientNear, client] = await connection()
  const [upNear, apiserver] = await connection()
  let ended!: () => void
  const endedP = new Promise<void>((resolve) => { ended = resolve })
  const session = new SplicedSession(clientNear, upNear, { idleTimeoutMs: 0, keepAliveMs: 0, websocket: false, ...options }, () => ended())
  session.start(Buffer.from('HTTP/1.1 101 Switching Protocols\r\n\r\n'), heads.up ?? Buffer.alloc(0), heads.client ?? Buffer.alloc(0))
  return { session, client, apiserver, ended: endedP }
}

describe('SplicedSession', () => {
  it('start: the 101 head and the apiserver\'s early bytes to the client, the client\'s early bytes upstream, all counted', async () => {
    const s = await splice({}, { up: Buffer.from('UP'), client: Buffer.from('EARLY') })
    const c = reader(s.client)
    const a = reader(s.apiserver)
    assert.equal((await c.until((b) => b.length >= 38)).toString(), 'HTTP/1.1 101 Switching Protocols\r\n\r\nUP')
    assert.equal((await a.until((b) => b.length >= 5)).toString(), 'EARLY')
    s.client.write('more')
    await a.until((b) => b.length >= 9)
    assert.equal(s.session.bytesIn, 9)
    assert.equal(s.session.bytesOut, 2)
  })

  it('half-close: the client\'s FIN reaches the apiserver, which can still answer; its FIN then ends the session', async () => {
    const s = await splice()
    const c = reader(s.client)
    const a = reader(s.apiserver)
    s.client.end('last words')
    await a.ended
    assert.equal(a.bytes().toString(), 'last words')
    assert.equal(s.session.ended, false)
    s.apiserver.end('answer after FIN')
    await c.ended
    assert.match(c.bytes().toString(), /answer after FIN$/)
    await s.ended
    assert.equal(s.session.ended, true)
    assert.equal(s.session.bytesIn, 10)
    assert.equal(s.session.bytesOut, 16)
  })

  it('either side gone entirely: the other gets a FIN and the session ends', async () => {
    const s = await splice()
    const c = reader(s.client)
    s.apiserver.destroy()
    await c.ended
    s.client.end()
    await s.ended
  })

  it('idle timeout: a quiet session is torn down, both peers see their connection close', async () => {
    const s = await splice({ idleTimeoutMs: 50 })
    const c = reader(s.client)
    const a = reader(s.apiserver)
    await s.ended
    await Promise.all([c.gone, a.gone])
  })

  it('close() of a WebSocket between frames: 1001 close frames each way (masked upstream), then the session ends', async () => {
    const s = await splice({ websocket: true })
    const c = reader(s.client)
    const a = reader(s.apiserver)
    await c.until((b) => b.length > 0)
    s.session.close()
    const toClient = await c.until((b) => b.length >= 36 + 4)
    assert.deepEqual([...toClient.subarray(-4)], [0x88, 0x02, 0x03, 0xe9])
    const toApi = await a.until((b) => b.length >= 8)
    assert.deepEqual([toApi[0], toApi[1]], [0x88, 0x82])
    const mask = toApi.subarray(2, 6)
    assert.deepEqual([(toApi[6] as number) ^ (mask[0] as number), (toApi[7] as number) ^ (mask[1] as number)], [0x03, 0xe9])
    await Promise.all([c.ended, a.ended])
    s.client.end()
    s.apiserver.end()
    await s.ended
  })

  it('close() in the middle of a frame cuts the session at once (no close frame inside a frame)', async () => {
    const s = await splice({ websocket: true })
    const c = reader(s.client)
    s.apiserver.write(Buffer.from([0x82, 0x05, 0x01]))
    await c.until((b) => b.length >= 36 + 3)
    s.session.close()
    assert.equal(s.session.ended, true)
    await c.gone
    assert.equal(c.bytes().length, 36 + 3)
  })

  it('close() of a non-WebSocket (SPDY) session cuts it at once', async () => {
    const s = await splice({ websocket: false })
    const a = reader(s.apiserver)
    s.session.close()
    assert.equal(s.session.ended, true)
    await a.gone
    s.session.close()
  })
})

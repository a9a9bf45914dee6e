/**
 * Shared pieces of the upgrade tests: a stack with kubegate on TLS and pods in place, a raw-socket client
 * that shows exactly what kubegate wrote (status line, header lines, body, whether the socket closed), and a
 * scripted TLS "apiserver" for the answers the double never gives (a 101 with another protocol, a 101 that
 * carries the token protocol, bytes that must not arrive before the 101).
 */
import { randomBytes } from 'node:crypto'
import { connect as netConnect, type Socket } from 'node:net'
import { createServer as createTlsServer, type TLSSocket } from 'node:tls'
import { TUTORIAL_BINDINGS } from '../../helpers/apiserver.js'
import { createUntrustedPki, issueServerCert, getTestPki } from '../../helpers/pki.js'
import { startStack, type Stack, type StackOptions } from '../../helpers/stack.js'

export const NS = 'user01'
export const POD = 'pod1'
export const OTHER_NS = 'default'
export const OTHER_POD = 'web'
export const USER = 'user01@example.com'

/** kubegate on TLS (the stack's default: kubectl sends tokens only over TLS), pods ready for exec. */
export async function startUpgradeStack (options: StackOptions = {}): Promise<Stack> {
  const stack = await startStack({
    ...options,
    apiserver: {
      pods: [{ namespace: NS, name: POD }, { namespace: OTHER_NS, name: OTHER_POD }],
      // The tutorial's Role, plus read-only access to pods in `default`: kubectl can find OTHER_POD there,
      // and it is the exec itself that the apiserver forbids.
      rbac: [...TUTORIAL_BINDINGS, {
        namespace: OTHER_NS,
        subjects: [{ kind: 'User', name: USER }],
        rules: [{ verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] }],
      }],
      ...options.apiserver,
    },
  })
  return stack
}

export interface RawAnswer {
  /** Everything kubegate wrote, Latin-1. */
  text: string
  status: number
  /** Header lines as sent, `[name, value]`. */
  headers: Array<[string, string]>
  body: string
  /** The socket was closed by kubegate (FIN or RST) before the deadline. */
  closed: boolean
}

export function header (a: RawAnswer, name: string): string[] {
  return a.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v)
}

function parseAnswer (buf: Buffer, closed: boolean): RawAnswer {
  const text = buf.toString('latin1')
  const end = text.indexOf('\r\n\r\n')
  const headText = end === -1 ? text : text.slice(0, end)
  const [statusLine = '', ...lines] = headText.split('\r\n')
  const m = /^HTTP\/1\.1 (\d{3})/.exec(statusLine)
  return {
    text,
    status: m === null ? 0 : Number(m[1]),
    headers: lines.filter((l) => l !== '').map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1).trim()]),
    body: end === -1 ? '' : text.slice(end + 4),
    closed,
  }
}

/** A TLS (or plain) connection to kubegate with full control of the bytes. */
export interface RawClient {
  socket: Socket
  /** Everything received so far. */
  received: () => Buffer
  /** Resolves once the response head is complete (or the socket closes / the deadline passes). */
  head: (timeoutMs?: number) => Promise<RawAnswer>
  /** Resolves when the socket closes, or after timeoutMs with closed=false. */
  untilClosed: (timeoutMs?: number) => Promise<RawAnswer>
  close: () => void
}

export async function rawConnect (url: string, caPem: string | undefined): Promise<RawClient> {
  const u = new URL(url)
  const port = Number(u.port)
  let socket: Socket
  if (u.protocol === 'https:') {
    const { connect } = await import('node:tls')
    socket = connect({ host: '127.0.0.1', port, ca: caPem, servername: 'localhost' })
    await new Promise<void>((resolve, reject) => {
      (socket as TLSSocket).once('secureConnect', resolve)
      socket.once('error', reject)
    })
  } else {
    socket = netConnect(port, '127.0.0.1')
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
  }
  const chunks: Buffer[] = []
  let closed = false
  const waiters = new Set<() => void>()
  socket.on('data', (d: Buffer) => { chunks.push(d); for (const w of waiters) w() })
  socket.on('error', () => {})
  socket.on('close', () => { closed = true; for (const w of waiters) w() })
  const wait = (pred: () => boolean, timeoutMs: number): Promise<void> => new Promise((resolve) => {
    const check = (): void => {
      if (pred()) { clearTimeout(t); waiters.delete(check); resolve() }
    }
    const t = setTimeout(() => { waiters.delete(check); resolve() }, timeoutMs)
    waiters.add(check)
    check()
  })
  const all = (): Buffer => Buffer.concat(chunks)
  return {
    socket,
    received: all,
    async head (timeoutMs = 10_000) {
      await wait(() => closed || all().includes('\r\n\r\n'), timeoutMs)
      return parseAnswer(all(), closed)
    },
    async untilClosed (timeoutMs = 10_000) {
      await wait(() => closed, timeoutMs)
      return parseAnswer(all(), closed)
    },
    close: () => socket.destroy(),
  }
}

export const EXEC_PATH = `/api/v1/namespaces/${NS}/pods/${POD}/exec?command=cat&stdin=true&stdout=true&stderr=true`

/** A WebSocket upgrade request head, byte for byte (kubectl 1.30+'s first attempt). */
export function wsRequest (path: string, lines: string[]): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n` +
    lines.map((l) => l + '\r\n').join('') + '\r\n'
}

/** A SPDY/3.1 upgrade request head as client-go writes it (POST, one X-Stream-Protocol-Version line each). */
export function spdyRequest (path: string, lines: string[]): string {
  return `POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n` +
    'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Stream-Protocol-Version: v3.channel.k8s.io\r\n' +
    'X-Stream-Protocol-Version: v2.channel.k8s.io\r\nX-Stream-Protocol-Version: channel.k8s.io\r\n' +
    lines.map((l) => l + '\r\n').join('') + '\r\n'
}

/** One WebSocket frame from the client (masked, as RFC 6455 requires), binary opcode unless given. */
export function wsFrame (payload: Buffer, opcode = 0x2): Buffer {
  const mask = randomBytes(4)
  const len = payload.length
  const head = len < 126 ? Buffer.from([0x80 | opcode, 0x80 | len])
    : len < 65536 ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
      : (() => { const b = Buffer.alloc(10); b[0] = 0x80 | opcode; b[1] = 0x80 | 127; b.writeBigUInt64BE(BigInt(len), 2); return b })()
  const body = Buffer.alloc(len)
  for (let i = 0; i < len; i++) body[i] = (payload[i] as number) ^ (mask[i & 3] as number)
  return Buffer.concat([head, mask, body])
}

/** Server-to-client (unmasked) frames in `buf`: `[opcode, payload]` each; stops at an incomplete frame. */
export function wsFrames (buf: Buffer): Array<[number, Buffer]> {
  const out: Array<[number, Buffer]> = []
  let i = 0
  while (i + 2 <= buf.length) {
    const op = (buf[i] as number) & 0x0f
    let len = (buf[i + 1] as number) & 0x7f
    let off = i + 2
    if (len === 126) { if (off + 2 > buf.length) break; len = buf.readUInt16BE(off); off += 2 } else if (len === 127) { if (off + 8 > buf.length) break; len = Number(buf.readBigUInt64BE(off)); off += 8 }
    if (off + len > buf.length) break
    out.push([op, buf.subarray(off, off + len)])
    i = off + len
  }
  return out
}

/** A scripted upstream: TLS on loopback with a certificate from the test CA; records every connection's bytes. */
export interface ScriptedUpstream {
  url: string
  caFile: string
  tokenFile: string
  /** Bytes received per connection, in order. */
  connections: Buffer[][]
  /** TCP connections accepted (a handshake kubegate refused still counts here, not in `connections`). */
  tcpConnections: number
  /** Each connection's socket, in order; `ended[i]` once connection i's peer sent FIN. */
  sockets: TLSSocket[]
  ended: boolean[]
  /** Answer for each request head (called once per connection, when the head is complete). */
  answer: (head: string, socket: TLSSocket, conn: Buffer[]) => void
  close: () => Promise<void>
}

export async function startScriptedUpstream (tokenFile: string, options: { untrusted?: boolean } = {}): Promise<ScriptedUpstream> {
  const pki = await getTestPki()
  // Signed by another CA when `untrusted`: kubegate (trusting only the test CA) must refuse the handshake.
  const cert = await issueServerCert(options.untrusted === true ? await createUntrustedPki() : pki, 'scripted')
  const sockets = new Set<Socket>()
  const up: ScriptedUpstream = {
    url: '',
    caFile: pki.caFile,
    tokenFile,
    connections: [],
    tcpConnections: 0,
    sockets: [],
    ended: [],
    answer: () => {},
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  // allowHalfOpen: a test can see the client's FIN arrive while it still writes.
  const server = createTlsServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['http/1.1'], allowHalfOpen: true }, (s) => {
    sockets.add(s)
    const conn: Buffer[] = []
    const index = up.connections.length
    up.connections.push(conn)
    up.sockets.push(s)
    up.ended.push(false)
    s.on('end', () => { up.ended[index] = true })
    let answered = false
    s.on('data', (d: Buffer) => {
      conn.push(d)
      if (answered) return
      const all = Buffer.concat(conn).toString('latin1')
      const end = all.indexOf('\r\n\r\n')
      if (end === -1) return
      answered = true
      up.answer(all.slice(0, end + 4), s, conn)
    })
    s.on('error', () => {})
    s.on('close', () => sockets.delete(s))
  })
  // Raw TCP sockets too: with allowHalfOpen a connection whose handshake failed would otherwise hold close().
  server.on('connection', (s: Socket) => {
    up.tcpConnections++
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const addr = server.address() as { port: number }
  up.url = `https://127.0.0.1:${addr.port}`
  return up
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `pred` every 20 ms until true or timeoutMs (then returns false). */
export async function eventually (pred: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if (pred()) return true
    await sleep(20)
  }
  return pred()
}

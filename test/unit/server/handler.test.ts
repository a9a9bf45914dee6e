// The request pipeline's seams, driven over loopback: cache-hit path without await, the client-identity step, the upstream credential.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import pino from 'pino'
import type { Authenticated, Authenticator } from '../../../src/auth/authenticator.js'
import type { Identity } from '../../../src/auth/identity.js'
import { KubegateError } from '../../../src/errors.js'
import { buildImpersonationHeaders } from '../../../src/impersonation/headers.js'
import type { AccessRecord } from '../../../src/log/access-record.js'
import { createRequestHandlers, type HandlerDeps } from '../../../src/server/handler.js'
import { createSessionRegistry } from '../../../src/server/sessions.js'
import type { ClientIdentityDecision, ClientIdentityStep } from '../../../src/server/stages.js'
import { Swappable } from '../../../src/swappable.js'
import type { Forwarder } from '../../../src/upstream/forwarder.js'
import type { TokenSource } from '../../../src/upstream/token-source.js'
import type { TunnelRequest, Tunneler } from '../../../src/upstream/tunnel.js'

function authenticated (user: string, groups: string[]): Authenticated {
  const identity: Identity = { user, groups, uid: undefined, sub: user, exp: 2_000_000_000, iat: undefined }
  return { identity, headers: buildImpersonationHeaders(identity), tokenHash: 'h-' + user, keyId: undefined }
}

const ALICE = authenticated('alice@example.com', ['students'])
const BOB = authenticated('bob@example.com', ['teachers', 'staff'])

/** Knows one token, answered from "cache" (synchronously), and one that needs "verification" (a Promise). */
const authenticator: Authenticator = {
  authenticate (token) {
    if (token === 'cached') return ALICE
    if (token === 'fresh') return Promise.resolve(ALICE)
    throw new KubegateError('KG_ERR_BAD_TOKEN', undefined, { failure: 'bad_signature' })
  },
  cached: (token) => token === 'cached' ? ALICE : undefined,
  evict: () => 0,
  size: 0,
  stats: { hits: 0, misses: 0, negativeHits: 0 },
  clear: () => {},
}

const serviceAccount: TokenSource = { header: 'Bearer kubegate-sa', reload: async () => false, close: () => {} }

/** Records what would go upstream and answers 200 (HTTP) or a refusal (upgrade), without a network peer. */
class RecordingUpstream implements Forwarder, Tunneler {
  forwarded: string[][] = []
  tunneled: TunnelRequest[] = []
  forward: Forwarder['forward'] = (_req, res, headers, _hasBody, _longRunning, done) => {
    this.forwarded.push([...headers])
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.end('ok', () => done({ status: 200, bytes: 2, upstreamMs: 0, error: undefined, aborted: false }))
    return () => {}
  }

  tunnel: Tunneler['tunnel'] = (t, done) => {
    this.tunneled.push(t)
    t.client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
    done({ status: 403, spliced: false, upstreamMs: 0, bytesIn: 0, bytesOut: 0, error: undefined })
    return () => {}
  }

  probe = async (): Promise<number> => 200
  close = async (): Promise<void> => {}
  destroy = async (): Promise<void> => {}
}

/** A pair of header values from a flat `[name, value, ...]` list. */
function values (flat: readonly string[], name: string): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) if ((flat[i] as string).toLowerCase() === name) out.push(flat[i + 1] as string)
  return out
}

interface Rig {
  server: Server
  port: number
  upstream: RecordingUpstream
  access: AccessRecord[]
  /** Per request: was it forwarded before onRequest returned? */
  forwardedSynchronously: boolean[]
  /** Server-side responses and upgrade sockets, to wait for a client's disconnect. */
  responses: ServerResponse[]
  upgradeSockets: Socket[]
}

async function rig (clientIdentity?: ClientIdentityStep): Promise<Rig> {
  const upstream = new RecordingUpstream()
  const access: AccessRecord[] = []
  const deps: HandlerDeps = {
    authentication: new Swappable({ authenticator }),
    upstream: new Swappable({ forwarder: upstream, tunneler: upstream }),
    token: new Swappable(serviceAccount),
    sessions: createSessionRegistry(),
    logger: pino({ level: 'silent' }),
    maxTokenBytes: 4096,
    maxUpgradesPerUser: 10,
    clientIdentity,
    onAccess: (r) => { access.push(r) },
  }
  const h = createRequestHandlers(deps)
  const r: Rig = { server: createServer(), port: 0, upstream, access, forwardedSynchronously: [], responses: [], upgradeSockets: [] }
  r.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    r.responses.push(res)
    const before = upstream.forwarded.length
    h.onRequest(req, res)
    r.forwardedSynchronously.push(upstream.forwarded.length === before + 1)
  })
  r.server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    r.upgradeSockets.push(socket)
    h.onUpgrade(req, socket, head)
  })
  r.server.listen(0, '127.0.0.1')
  await once(r.server, 'listening')
  r.port = (r.server.address() as AddressInfo).port
  return r
}

function get (port: number, headers: Record<string, string>): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/api/v1/namespaces/user01/pods', headers, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { body += c })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Sends a raw WebSocket upgrade and resolves the first response line. */
function upgrade (port: number, extra: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write('GET /api/v1/namespaces/user01/pods/p/exec?command=sh HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n' +
        'Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
        'Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n' + extra + '\r\n')
    })
    let data = ''
    s.setEncoding('utf8')
    s.on('data', (c: string) => { data += c })
    s.on('close', () => resolve(data.split('\r\n')[0] ?? ''))
    s.on('error', reject)
  })
}

describe('request pipeline', () => {
  let plain: Rig
  before(async () => { plain = await rig() })
  after(() => { plain.server.close() })

  it('forwards a cached token within onRequest (no await on a cache hit)', async () => {
    const res = await get(plain.port, { authorization: 'Bearer cached' })
    assert.equal(res.status, 200)
    assert.deepEqual(plain.forwardedSynchronously.at(-1), true)
  })

  it('forwards a token that needs verification after the Promise settles', async () => {
    const res = await get(plain.port, { authorization: 'Bearer fresh' })
    assert.equal(res.status, 200)
    assert.deepEqual(plain.forwardedSynchronously.at(-1), false)
  })

  it('adds kubegate\'s credential: its own token and one Impersonate-Group line per group, the client\'s dropped', async () => {
    await get(plain.port, { authorization: 'Bearer cached' })
    const h = plain.upstream.forwarded.at(-1) as string[]
    assert.deepEqual(values(h, 'authorization'), ['Bearer kubegate-sa'])
    assert.deepEqual(values(h, 'impersonate-user'), ['alice@example.com'])
    assert.deepEqual(values(h, 'impersonate-group'), ['students'])
    assert.equal(values(h, 'audit-id').length, 1)
  })

  it('the default client-identity step refuses client Impersonate-* headers with 403 and forwards nothing', async () => {
    const before = plain.upstream.forwarded.length
    const res = await get(plain.port, { authorization: 'Bearer cached', 'impersonate-user': 'bob@example.com' })
    assert.equal(res.status, 403)
    assert.equal(plain.upstream.forwarded.length, before)
    assert.equal(plain.access.at(-1)?.failure, 'identity_headers')
  })

  it('authentication answers before the client-identity step: no token is 401 even with Impersonate-*', async () => {
    const res = await get(plain.port, { 'impersonate-user': 'bob@example.com' })
    assert.equal(res.status, 401)
  })
})

describe('client-identity step', () => {
  let gate: { release: (d: ClientIdentityDecision) => void } | undefined
  const seen: Array<{ verified: string, identityHeader: boolean }> = []
  /** Forwards as bob when the client asked (Impersonate-User sent), asynchronously, as an RBAC check would. */
  const step: ClientIdentityStep = (verified, scan) => {
    seen.push({ verified: verified.identity.user, identityHeader: scan.identityHeader })
    if (!scan.identityHeader) return verified
    return new Promise<ClientIdentityDecision>((resolve) => { gate = { release: resolve } })
  }
  let r: Rig
  before(async () => { r = await rig(step) })
  after(() => { r.server.close() })

  async function released (d: ClientIdentityDecision): Promise<void> {
    while (gate === undefined) await new Promise((resolve) => setImmediate(resolve))
    const g = gate
    gate = undefined
    g.release(d)
  }

  it('receives the verified identity and the scanned headers, and is synchronous when it can be', async () => {
    const res = await get(r.port, { authorization: 'Bearer cached' })
    assert.equal(res.status, 200)
    assert.deepEqual(seen.at(-1), { verified: 'alice@example.com', identityHeader: false })
    assert.equal(r.forwardedSynchronously.at(-1), true)
  })

  it('HTTP: a Promise of another identity forwards as that identity; the access record keeps the verified one', async () => {
    const pending = get(r.port, { authorization: 'Bearer cached', 'impersonate-user': 'bob@example.com' })
    await released(BOB)
    assert.equal((await pending).status, 200)
    const h = r.upstream.forwarded.at(-1) as string[]
    assert.deepEqual(values(h, 'impersonate-user'), ['bob@example.com'])
    assert.deepEqual(values(h, 'impersonate-group'), ['teachers', 'staff'])
    assert.deepEqual(values(h, 'authorization'), ['Bearer kubegate-sa'])
    assert.equal(r.access.at(-1)?.user, 'alice@example.com')
  })

  it('HTTP: a Promise of a refusal answers its Status and forwards nothing', async () => {
    const before = r.upstream.forwarded.length
    const pending = get(r.port, { authorization: 'Bearer cached', 'impersonate-user': 'bob@example.com' })
    await released(new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' }))
    assert.equal((await pending).status, 403)
    assert.equal(r.upstream.forwarded.length, before)
  })

  it('HTTP: a client gone while the step waits is not forwarded', async () => {
    const before = r.upstream.forwarded.length
    const responses = r.responses.length
    const req = request({ host: '127.0.0.1', port: r.port, path: '/api', agent: false, headers: { authorization: 'Bearer cached', 'impersonate-user': 'bob@example.com' } })
    req.on('error', () => {})
    req.end()
    while (gate === undefined) await new Promise((resolve) => setImmediate(resolve))
    const res = r.responses[responses] as ServerResponse
    // A reset, not a FIN: the server side then closes at once (a half-closed client may still read).
    req.socket?.resetAndDestroy()
    if (!res.destroyed) await once(res, 'close')
    await released(BOB)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(r.upstream.forwarded.length, before)
  })

  it('upgrade: a Promise of another identity tunnels as that identity', async () => {
    const pending = upgrade(r.port, 'Authorization: Bearer cached\r\nImpersonate-User: bob@example.com\r\n')
    await released(BOB)
    assert.match(await pending, /^HTTP\/1\.1 403/)
    const t = r.upstream.tunneled.at(-1) as TunnelRequest
    assert.deepEqual(values(t.headers, 'impersonate-user'), ['bob@example.com'])
    assert.deepEqual(values(t.headers, 'authorization'), ['Bearer kubegate-sa'])
    assert.equal(r.access.at(-1)?.user, 'alice@example.com')
  })

  it('upgrade: a Promise of a refusal answers on the socket and opens no tunnel', async () => {
    const before = r.upstream.tunneled.length
    const pending = upgrade(r.port, 'Authorization: Bearer cached\r\nImpersonate-User: bob@example.com\r\n')
    await released(new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' }))
    assert.match(await pending, /^HTTP\/1\.1 403/)
    assert.equal(r.upstream.tunneled.length, before)
    assert.equal(r.access.at(-1)?.user, 'alice@example.com')
  })

  it('upgrade: a socket closed while the step waits opens no tunnel', async () => {
    const before = r.upstream.tunneled.length
    const s: Socket = connect(r.port, '127.0.0.1')
    await once(s, 'connect')
    s.write('GET /api/v1/namespaces/user01/pods/p/exec HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
      'Authorization: Bearer cached\r\nImpersonate-User: bob@example.com\r\n\r\n')
    const sockets = r.upgradeSockets.length
    while (gate === undefined) await new Promise((resolve) => setImmediate(resolve))
    const server = r.upgradeSockets[sockets] as Socket
    // A reset, not a FIN: the server side then closes at once (a half-closed client may still read).
    s.resetAndDestroy()
    // (not events.once: the reset's ECONNRESET on this socket would reject it)
    if (!server.destroyed) await new Promise((resolve) => server.once('close', resolve))
    await released(BOB)
    await new Promise((resolve) => setImmediate(resolve))
    assert.equal(r.upstream.tunneled.length, before)
  })
})

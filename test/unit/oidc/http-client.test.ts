import assert from 'node:assert/strict'
import { once } from 'node:events'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer, type Server } from 'node:https'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { createIssuerHttp, maxAgeSeconds } from '../../../src/oidc/http-client.js'
import { createUntrustedPki, getTestPki, issueServerCert } from '../../helpers/pki.js'

type Handler = (req: IncomingMessage, res: ServerResponse) => void

describe('createIssuerHttp', () => {
  let server: Server
  let base: string
  let ca: string
  const hits: string[] = []
  const routes = new Map<string, Handler>()
  const clients: Array<ReturnType<typeof createIssuerHttp>> = []
  const client = (opts: { timeoutMs?: number, maxBytes?: number, ca?: string } = {}): ReturnType<typeof createIssuerHttp> => {
    const c = createIssuerHttp({ ca, ...opts })
    clients.push(c)
    return c
  }

  before(async () => {
    const pki = await getTestPki()
    const cert = await issueServerCert(pki, 'issuer')
    ca = pki.caPem
    server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
      hits.push(req.url ?? '')
      const h = routes.get(req.url ?? '')
      if (h === undefined) {
        res.writeHead(404).end()
        return
      }
      h(req, res)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

    routes.set('/ok', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'public, max-age=600' })
      res.end(JSON.stringify({ keys: [{ kid: 'a' }] }))
    })
    routes.set('/big-declared', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 4096 })
      res.end(Buffer.alloc(4096, 0x20))
    })
    routes.set('/big-chunked', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      // never-ending stream: the client must stop reading at the limit
      const iv = setInterval(() => { res.write(Buffer.alloc(512, 0x20)) }, 5)
      res.on('close', () => clearInterval(iv))
    })
    routes.set('/slow', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write('{"keys":')
      // the rest never comes
    })
    routes.set('/redirect', (_req, res) => {
      res.writeHead(302, { location: `${base}/ok` }).end()
    })
    routes.set('/html', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>not json</html>')
    })
    routes.set('/error', (_req, res) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end('{}')
    })
  })

  after(async () => {
    for (const c of clients) await c.close()
    server.closeAllConnections()
    server.close()
  })

  it('fetches JSON over https with the configured CA, exposing status, headers and body', async () => {
    const r = await client().fetchJson(`${base}/ok`)
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { keys: [{ kid: 'a' }] })
    assert.equal(r.headers['cache-control'], 'public, max-age=600')
  })

  it('refuses plain http before connecting', async () => {
    const plain = createHttpServer((_req, res) => res.end('{}'))
    let plainHits = 0
    plain.on('request', () => { plainHits++ })
    plain.listen(0, '127.0.0.1')
    await once(plain, 'listening')
    try {
      const url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}/ok`
      await assert.rejects(client().fetchJson(url), /non-https/)
      assert.equal(plainHits, 0)
    } finally {
      plain.close()
    }
  })

  it('refuses a server certificate from another CA', async () => {
    const other = await createUntrustedPki()
    await assert.rejects(client({ ca: other.caPem }).fetchJson(`${base}/ok`))
  })

  it('aborts an oversize body (declared Content-Length) without an unhandled stream error', async () => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown): void => { uncaught.push(err) }
    process.on('uncaughtException', onUncaught)
    try {
      await assert.rejects(client({ maxBytes: 1024 }).fetchJson(`${base}/big-declared`), /exceeds 1024/)
      // Destroying undici's body without an 'error' listener emits RequestAbortedError on the next ticks:
      // in production that is an uncaught exception that ends the process.
      await new Promise((resolve) => setTimeout(resolve, 100))
    } finally {
      process.off('uncaughtException', onUncaught)
    }
    assert.deepEqual(uncaught.map((e) => String(e)), [])
  })

  it('aborts an oversize body while streaming (no Content-Length)', async () => {
    const started = Date.now()
    await assert.rejects(client({ maxBytes: 2048 }).fetchJson(`${base}/big-chunked`), /exceeds 2048/)
    assert.ok(Date.now() - started < 2000)
  })

  it('aborts a slow body by timeout', async () => {
    const started = Date.now()
    await assert.rejects(client({ timeoutMs: 150 }).fetchJson(`${base}/slow`))
    const took = Date.now() - started
    assert.ok(took < 2000, `took ${took} ms`)
  })

  it('does not follow a 302', async () => {
    hits.length = 0
    await assert.rejects(client().fetchJson(`${base}/redirect`), /HTTP 302/)
    assert.deepEqual(hits, ['/redirect'])
  })

  it('refuses non-200 answers and non-JSON bodies', async () => {
    await assert.rejects(client().fetchJson(`${base}/error`), /HTTP 500/)
    await assert.rejects(client().fetchJson(`${base}/html`), /not JSON/)
    await assert.rejects(client().fetchJson(`${base}/missing`), /HTTP 404/)
  })
})

describe('maxAgeSeconds', () => {
  const cases: Array<[string | string[] | undefined, number | undefined]> = [
    [undefined, undefined],
    ['', undefined],
    ['max-age=600', 600],
    ['public, max-age=600', 600],
    ['public, max-age=600, must-revalidate', 600],
    ['MAX-AGE=30', 30],
    ['max-age=0', 0],
    [['public', 'max-age=120'], 120],
    ['max-age=abc', undefined],
    ['max-age=-5', undefined],
    ['s-maxage=100', undefined],
    ['public', undefined],
  ]
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${String(expected)}`, () => assert.equal(maxAgeSeconds(input), expected))
  }

  for (const input of ['no-store', 'no-cache', 'max-age=600, no-store', 'no-cache, max-age=600', 'private, NO-STORE']) {
    it(`${input} -> not cacheable (no positive max-age)`, () => {
      const v = maxAgeSeconds(input)
      assert.ok(v === 0 || v === undefined, String(v))
    })
  }
})

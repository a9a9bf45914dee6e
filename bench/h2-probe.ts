/**
 * The two facts the HTTP/2-upstream decision rests on (docs/design.md, "Memory per open watch"), with undici
 * as kubegate would configure it for h2 (`allowH2`, `pipelining` > 1, uncapped Pool):
 *   A: against an upstream that answers HTTP/1.1, is a second watch answered? (undici pipelines it behind
 *      the first watch's endless body: no);
 *   B: against an h2 upstream, does a stalled watch (handler returns false, never resumed) hold back another
 *      watch on the same connection?
 * `npx tsx bench/h2-probe.ts`; prints what each watch received (-1 = no response headers).
 */
import { createSecureServer, type Http2ServerResponse } from 'node:http2'
import { createServer } from 'node:https'
import { readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { Pool } from 'undici'
import { getTestPki } from '../test/helpers/pki.js'

const pki = await getTestPki()
const c = await pki.issue('h2probe')
const tls = { cert: readFileSync(c.certFile), key: readFileSync(c.keyFile) }
const ca = readFileSync(pki.caFile)

function handler (name: string) {
  const got: Record<string, number> = {}
  return {
    got,
    mk (id: string, pause: boolean) {
      got[id] = -1
      return {
        onConnect () {}, onHeaders () { got[id] = 0; return true },
        onData (b: Buffer) { got[id] += b.length; return !pause },
        onComplete () {}, onError (e: Error) { got[id + '-err'] = 1; console.log(name, id, 'error', e.message) },
      }
    },
  }
}

// A: h1-only upstream, undici with allowH2 + pipelining 100: is the 2nd watch answered?
{
  const srv = createServer(tls, (req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); res.flushHeaders(); res.write('{"a":1}\n') })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  const pool = new Pool(`https://127.0.0.1:${(srv.address() as AddressInfo).port}`, { connections: null, pipelining: 100, allowH2: true, connect: { ca }, headersTimeout: 0, bodyTimeout: 0 })
  const h = handler('A')
  pool.dispatch({ path: '/w1?watch=1', method: 'GET' }, h.mk('w1', false))
  await new Promise((r) => setTimeout(r, 300))
  pool.dispatch({ path: '/w2?watch=1', method: 'GET' }, h.mk('w2', false))
  await new Promise((r) => setTimeout(r, 1000))
  console.log('A h1 upstream, pipelining 100:', JSON.stringify(h.got), '(-1 = no headers)')
  await pool.destroy(); srv.closeAllConnections(); srv.close()
}

// B: h2 upstream, one stalled stream (handler returns false, never resumed): does another stream on the same connection still get data?
{
  const streams: Http2ServerResponse[] = []
  const srv = createSecureServer({ ...tls }, (req, res) => { res.writeHead(200, { 'content-type': 'application/json' }); streams.push(res) })
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
  let sessions = 0
  srv.on('session', () => sessions++)
  const pool = new Pool(`https://127.0.0.1:${(srv.address() as AddressInfo).port}`, { connections: null, pipelining: 100, allowH2: true, connect: { ca }, headersTimeout: 0, bodyTimeout: 0 })
  const h = handler('B')
  pool.dispatch({ path: '/stall?watch=1', method: 'GET' }, h.mk('stalled', true))
  await new Promise((r) => setTimeout(r, 300))
  pool.dispatch({ path: '/ok?watch=1', method: 'GET' }, h.mk('other', false))
  await new Promise((r) => setTimeout(r, 300))
  const chunk = Buffer.alloc(16 * 1024, 'x')
  for (let i = 0; i < 64; i++) streams[0].write(chunk) // 1 MiB into the stalled stream
  await new Promise((r) => setTimeout(r, 500))
  for (let i = 0; i < 8; i++) streams[1].write(chunk) // 128 KiB into the other
  await new Promise((r) => setTimeout(r, 1000))
  console.log('B h2 sessions', sessions, JSON.stringify(h.got))
  await pool.destroy(); srv.close()
}
process.exit(0)

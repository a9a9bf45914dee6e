import { after, before, test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { request, type OutgoingHttpHeaders } from 'node:http'
import { connect } from 'node:net'
import { join } from 'node:path'
import { createTempDir } from '../../helpers/pki.js'
import { allLogLines, startStack, type Stack } from '../../helpers/stack.js'

let stack: Stack
let auditFile: string
before(async () => {
  auditFile = join(createTempDir('kubegate-leak-'), 'audit.log')
  stack = await startStack({ plainHttp: true, config: { audit: { file: auditFile }, log: { level: 'trace' } } })
})
after(async () => { await stack?.close() })

function send (url: string, method: string, headers: OutgoingHttpHeaders | string[]): Promise<string> {
  return new Promise((resolve) => {
    const req = request(url, { method, headers: headers as OutgoingHttpHeaders, agent: false }, (res) => {
      let body = JSON.stringify(res.headers)
      res.on('data', (c: Buffer) => { body += c.toString('utf8') })
      res.on('end', () => resolve(body))
      res.on('error', () => resolve(body))
    })
    req.on('error', () => resolve(''))
    req.end()
  })
}

/** A raw upgrade request (WebSocket with the token in the subprotocol, as kubectl exec sends it). */
function upgrade (port: number, path: string, token: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: base64url.bearer.authorization.k8s.io.${Buffer.from(token).toString('base64url')}, v5.channel.k8s.io\r\n\r\n`)
    })
    let text = ''
    s.on('data', (c: Buffer) => {
      text += c.toString('latin1')
      if (text.includes('\r\n\r\n')) s.destroy()
    })
    s.on('close', () => resolve(text))
    s.on('error', () => resolve(text))
    setTimeout(() => s.destroy(), 3000).unref()
  })
}

test('no minted token and not the service-account token appears in any log line, audit event, metric or response', async () => {
  const { kg, issuer, apiserver } = stack
  const now = Math.floor(Date.now() / 1000)
  const tokens: string[] = []
  const mint = async (claims: Record<string, unknown> = {}, opts?: Parameters<typeof issuer.token>[1]): Promise<string> => {
    const t = await issuer.token(claims, opts)
    tokens.push(t)
    return t
  }
  for (let i = 0; i < 8; i++) await mint({ email: `user${String(i).padStart(2, '0')}@example.com`, groups: ['students'] })
  await mint({ email: 'user01@example.com', exp: now - 3600, iat: now - 7200 })
  await mint({ email: 'user01@example.com', aud: 'someone-else' })
  await mint({ email: 'system:admin' })
  await mint({ email: 'user01@example.com', nbf: now + 3600 })
  await mint({ email: 'user01@example.com', groups: 'not-a-list-but-fine' })
  await mint({ email: 'user01@example.com', email_verified: false })
  const good = await mint({ email: 'user01@example.com', groups: ['students'] })
  const forged = good.slice(0, good.lastIndexOf('.') + 1) + Buffer.alloc(256, 9).toString('base64url')
  tokens.push(forged)
  const oldKid = issuer.currentKid
  await issuer.rotate()
  const unknownKid = await mint({ email: 'user01@example.com' })
  issuer.removeKey(issuer.currentKid)
  void oldKid

  const bodies: string[] = []
  const paths = ['/api/v1/namespaces/user01/pods', '/api/v1/namespaces/default/secrets/x', '/apis/apps/v1/namespaces/user01/deployments', '/version']
  for (const t of tokens) {
    for (const p of paths) bodies.push(await send(kg.url + p, 'GET', { authorization: `Bearer ${t}` }))
    bodies.push(await send(kg.url + '/api/v1/namespaces/user01/pods', 'GET', ['Authorization', `Bearer ${t}`, 'Authorization', `Bearer ${t}`]))
    bodies.push(await send(kg.url + '/api/v1/namespaces/user01/pods?access_token=' + t, 'GET', {}))
    bodies.push(await send(kg.url + '/api/v1/namespaces/user01/pods', 'GET', { authorization: `Bearer ${t}`, 'impersonate-user': 'admin' }))
    bodies.push(await send(kg.url + '/api/v1/namespaces/user01/pods', 'DELETE', { authorization: `Basic ${Buffer.from('u:' + t).toString('base64')}` }))
    bodies.push(await upgrade(kg.port, '/api/v1/namespaces/user01/pods/web/exec?command=sh', t))
  }
  bodies.push(await send(kg.url + '/api/v1/namespaces/user01/pods', 'GET', { authorization: `Bearer ${unknownKid}` }))
  bodies.push(await send(kg.metricsServer.url, 'GET', {}))
  const metrics = await kg.metrics.registry.metrics()
  // Let the asynchronous audit writer and the logger catch up.
  for (let i = 0; i < 100 && !readFileSync(auditFile, 'utf8').includes('/exec'); i++) await new Promise((r) => setTimeout(r, 20))
  await new Promise((r) => setTimeout(r, 100))
  const audit = readFileSync(auditFile, 'utf8')

  assert.ok(tokens.length >= 16)
  assert.ok(allLogLines.length > tokens.length * 5, `only ${allLogLines.length} log lines`)
  assert.ok(audit.split('\n').length > tokens.length * 5)
  const secrets = [...tokens, apiserver.token]
  // The signature segment alone is enough to find a token someone split or truncated; the SA token is opaque.
  const needles = secrets.flatMap((t) => {
    const parts = t.split('.')
    return parts.length === 3 ? [t, parts[2] as string, Buffer.from(t).toString('base64url')] : [t]
  })
  const haystacks: Array<[string, string]> = [
    ['log', allLogLines.join('\n')],
    ['audit', audit],
    ['metrics', metrics],
    ['responses', bodies.join('\n')],
  ]
  for (const [where, text] of haystacks) {
    for (const n of needles) assert.ok(!text.includes(n), `a token fragment appears in the ${where}`)
  }
})

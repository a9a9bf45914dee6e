import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { scanClientHeaders } from '../../../src/impersonation/client-headers.js'

function names (flat: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) out.push(flat[i] as string)
  return out
}

const BASE = ['Host', 'kubegate.example', 'Accept', 'application/json', 'User-Agent', 'kubectl/v1.30']

describe('scanClientHeaders: identity headers', () => {
  const identityNames = [
    'Impersonate-User', 'impersonate-group', 'IMPERSONATE-UID', 'Impersonate_User', 'impersonate-extra-foo',
    'Impersonate-Extra-Scopes', 'impersonate_extra_x', 'X-Remote-User', 'x_remote_group', 'X-REMOTE-EXTRA-acme',
    'x-remote_user',
  ]
  for (const name of identityNames) {
    it(`${name} -> identityHeader true and not forwarded`, () => {
      const r = scanClientHeaders([...BASE, name, 'system:admin'])
      assert.equal(r.identityHeader, true)
      assert.ok(!names(r.forward).includes(name))
      assert.ok(!r.forward.includes('system:admin'))
    })
  }

  for (const name of ['Impersonator', 'X-Remote', 'X-Remoteuser', 'Accept-Impersonate-User', 'Remote-User']) {
    it(`${name} is not an identity header`, () => {
      const r = scanClientHeaders([...BASE, name, 'v'])
      assert.equal(r.identityHeader, false)
      assert.ok(names(r.forward).includes(name))
    })
  }

  it('ordinary requests have no identity header', () => {
    assert.equal(scanClientHeaders(BASE).identityHeader, false)
  })
})

describe('scanClientHeaders: Authorization', () => {
  it('one line: counted, value kept, not forwarded', () => {
    const r = scanClientHeaders([...BASE, 'Authorization', 'Bearer abc'])
    assert.equal(r.authorizationCount, 1)
    assert.equal(r.authorization, 'Bearer abc')
    assert.ok(!names(r.forward).some((n) => n.toLowerCase() === 'authorization'))
  })
  it('two lines (any case): both counted, first kept', () => {
    const r = scanClientHeaders([...BASE, 'Authorization', 'Bearer one', 'authorization', 'Bearer two'])
    assert.equal(r.authorizationCount, 2)
    assert.equal(r.authorization, 'Bearer one')
    assert.ok(!r.forward.includes('Bearer two'))
  })
  it('none: undefined and 0', () => {
    const r = scanClientHeaders(BASE)
    assert.equal(r.authorization, undefined)
    assert.equal(r.authorizationCount, 0)
  })
})

describe('scanClientHeaders: dropped headers', () => {
  const dropped = [
    'Proxy-Authorization', 'Cookie', 'Forwarded', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto',
    'x-forwarded-client-cert', 'X-Real-IP', 'Host', 'Expect', 'Transfer-Encoding', 'Keep-Alive', 'Upgrade',
    'Connection', 'Proxy-Connection', 'TE', 'Trailer', 'HTTP2-Settings', 'Audit-ID', 'Sec-WebSocket-Protocol',
    'True-Client-IP', 'X-Client-IP',
  ]
  for (const name of dropped) {
    it(`${name} is not forwarded`, () => {
      const r = scanClientHeaders(['Accept', '*/*', name, 'x-value-1', 'X-Keep', 'yes'])
      assert.ok(!names(r.forward).some((n) => n.toLowerCase() === name.toLowerCase()), name)
      assert.ok(!r.forward.includes('x-value-1'))
      assert.deepEqual(r.forward, ['Accept', '*/*', 'X-Keep', 'yes'])
      assert.equal(r.identityHeader, false)
    })
  }
})

describe('scanClientHeaders: Connection-nominated headers', () => {
  it('Connection: close, X-Custom, Authorization removes X-Custom from forward', () => {
    const r = scanClientHeaders(['Connection', 'close, X-Custom, Authorization', 'X-Custom', 'v', 'X-Other', 'w', 'Authorization', 'Bearer t'])
    assert.deepEqual(r.forward, ['X-Other', 'w'])
    assert.equal(r.authorization, 'Bearer t')
    assert.equal(r.authorizationCount, 1)
  })
  it('Connection: impersonate-user still flags a client Impersonate-User', () => {
    const r = scanClientHeaders(['Connection', 'Impersonate-User', 'Impersonate-User', 'admin'])
    assert.equal(r.identityHeader, true)
  })
  it('several Connection lines all apply; case-insensitive', () => {
    const r = scanClientHeaders(['Connection', 'x-a', 'X-A', '1', 'connection', 'X-B', 'x-b', '2', 'X-C', '3'])
    assert.deepEqual(r.forward, ['X-C', '3'])
  })
  it('Connection: keep-alive, Upgrade do not remove anything else', () => {
    const r = scanClientHeaders(['Connection', 'keep-alive, Upgrade', 'Upgrade', 'websocket', 'Accept', '*/*'])
    assert.deepEqual(r.forward, ['Accept', '*/*'])
    assert.equal(r.upgrade, 'websocket')
  })
})

describe('scanClientHeaders: forwarding fidelity', () => {
  it('repeated X-Stream-Protocol-Version lines are all kept, in order, names and values untouched', () => {
    const raw = [
      'X-Stream-Protocol-Version', 'v4.channel.k8s.io',
      'X-Stream-Protocol-Version', 'v3.channel.k8s.io',
      'x-stream-protocol-version', 'v2.channel.k8s.io',
      'X-Stream-Protocol-Version', 'channel.k8s.io',
    ]
    assert.deepEqual(scanClientHeaders(raw).forward, raw)
  })

  it('keeps ordinary headers in order', () => {
    const raw = ['Accept', 'application/json', 'Content-Type', 'application/json', 'Content-Length', '2', 'X-A', '1']
    assert.deepEqual(scanClientHeaders(raw).forward, raw)
  })
})

describe('scanClientHeaders: body and upgrade', () => {
  it('hasBody from Content-Length > 0', () => {
    assert.equal(scanClientHeaders(['Content-Length', '10']).hasBody, true)
    assert.equal(scanClientHeaders(['content-length', '0']).hasBody, false)
    assert.equal(scanClientHeaders(BASE).hasBody, false)
  })
  it('hasBody from Transfer-Encoding', () => {
    assert.equal(scanClientHeaders(['Transfer-Encoding', 'chunked']).hasBody, true)
  })
  it('Upgrade value collected', () => {
    assert.equal(scanClientHeaders(['Upgrade', 'SPDY/3.1']).upgrade, 'SPDY/3.1')
    assert.equal(scanClientHeaders(BASE).upgrade, undefined)
  })
  it('Sec-WebSocket-Protocol values collected from every line, trimmed, empties skipped', () => {
    const r = scanClientHeaders([
      'Sec-WebSocket-Protocol', 'base64url.bearer.authorization.k8s.io.dG9r, v5.channel.k8s.io',
      'sec-websocket-protocol', ' v4.channel.k8s.io ,,',
    ])
    assert.deepEqual(r.wsProtocols, ['base64url.bearer.authorization.k8s.io.dG9r', 'v5.channel.k8s.io', 'v4.channel.k8s.io'])
    assert.ok(!r.forward.some((v) => v.includes('bearer')))
    assert.equal(scanClientHeaders(BASE).wsProtocols, undefined)
  })
})

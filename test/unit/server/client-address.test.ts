import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { createClientAddress, parseCidr } from '../../../src/server/client-address.js'

function req (peer: string, xff?: string[]): IncomingMessage {
  const raw: string[] = ['Host', 'x']
  for (const v of xff ?? []) raw.push('X-Forwarded-For', v)
  return { socket: { remoteAddress: peer }, rawHeaders: raw } as unknown as IncomingMessage
}

test('without trusted proxies the peer is the client and X-Forwarded-For is ignored', () => {
  const f = createClientAddress([])
  assert.equal(f(req('192.0.2.1', ['10.0.0.1'])), '192.0.2.1')
})

test('X-Forwarded-For believed only from trusted proxies, rightmost untrusted hop wins', () => {
  const f = createClientAddress(['10.0.0.0/8', 'fd00::/8'])
  assert.equal(f(req('192.0.2.1', ['203.0.113.5'])), '192.0.2.1') // untrusted peer: header ignored
  assert.equal(f(req('10.1.1.1', ['203.0.113.5'])), '203.0.113.5')
  assert.equal(f(req('::ffff:10.1.1.1', ['203.0.113.5'])), '203.0.113.5')
  // A client-supplied entry on the left cannot choose the address.
  assert.equal(f(req('10.1.1.1', ['6.6.6.6, 203.0.113.5, 10.2.2.2'])), '203.0.113.5')
  assert.equal(f(req('10.1.1.1', ['6.6.6.6', '203.0.113.5'])), '203.0.113.5') // several lines are one list
  assert.equal(f(req('fd00::1', ['2001:db8::7'])), '2001:db8::7')
  assert.equal(f(req('10.1.1.1', ['garbage'])), '10.1.1.1')
  assert.equal(f(req('10.1.1.1', ['203.0.113.5, garbage'])), '10.1.1.1')
  assert.equal(f(req('10.1.1.1', ['10.3.3.3'])), '10.3.3.3') // all trusted: the leftmost known hop
  assert.equal(f(req('10.1.1.1')), '10.1.1.1')
})

test('CIDR parsing', () => {
  assert.deepEqual(parseCidr('10.0.0.0/8'), { address: '10.0.0.0', prefix: 8, family: 'ipv4' })
  assert.deepEqual(parseCidr('::1'), { address: '::1', prefix: 128, family: 'ipv6' })
  assert.equal(parseCidr('10.0.0.0/33'), undefined)
  assert.equal(parseCidr('example.com/8'), undefined)
  assert.equal(parseCidr('10.0.0.0/x'), undefined)
  assert.throws(() => createClientAddress(['nope']), /not an address or CIDR/)
})

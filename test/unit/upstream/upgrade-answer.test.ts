// Unit tests of the 101 check and the heads kubegate relays from the apiserver's answer to an upgrade.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BEARER_PROTOCOL_PREFIX } from '../../../src/auth/bearer.js'
import { headerValues, refusalHead, switchingProtocolsHead, upgradeMismatch } from '../../../src/upstream/upgrade-answer.js'

const WS_101 = ['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'abc=']

describe('upgradeMismatch: only the switch that was asked for', () => {
  it('accepts the requested protocol, in any case and with padding', () => {
    assert.equal(upgradeMismatch(WS_101, 'websocket', undefined), undefined)
    assert.equal(upgradeMismatch(['upgrade', ' WebSocket '], 'websocket', undefined), undefined)
    assert.equal(upgradeMismatch(['Upgrade', 'SPDY/3.1', 'X-Stream-Protocol-Version', 'v4.channel.k8s.io'], 'SPDY/3.1', undefined), undefined)
  })
  it('refuses another protocol, a missing Upgrade, and two Upgrade lines', () => {
    assert.equal(upgradeMismatch(['Upgrade', 'h2c'], 'websocket', undefined), 'with a different Upgrade')
    assert.equal(upgradeMismatch(['Upgrade', 'SPDY/3.1'], 'websocket', undefined), 'with a different Upgrade')
    assert.equal(upgradeMismatch(['Connection', 'Upgrade'], 'websocket', undefined), 'with a different Upgrade')
    assert.equal(upgradeMismatch(['Upgrade', 'websocket', 'Upgrade', 'websocket'], 'websocket', undefined), 'with a different Upgrade')
    assert.equal(upgradeMismatch(['Upgrade', 'websocket, h2c'], 'websocket', undefined), 'with a different Upgrade')
  })
  it('accepts only an offered subprotocol, once', () => {
    const offered = ['v5.channel.k8s.io', 'v4.channel.k8s.io']
    assert.equal(upgradeMismatch([...WS_101, 'Sec-WebSocket-Protocol', 'v4.channel.k8s.io'], 'websocket', offered), undefined)
    assert.equal(upgradeMismatch([...WS_101, 'Sec-WebSocket-Protocol', 'v3.channel.k8s.io'], 'websocket', offered), 'with a protocol that was not offered')
    assert.equal(upgradeMismatch([...WS_101, 'Sec-WebSocket-Protocol', 'v4.channel.k8s.io'], 'websocket', undefined), 'with a protocol that was not offered')
    assert.equal(upgradeMismatch([...WS_101, 'Sec-WebSocket-Protocol', 'v4.channel.k8s.io', 'sec-websocket-protocol', 'v5.channel.k8s.io'], 'websocket', offered),
      'with more than one Sec-WebSocket-Protocol')
  })
  it('never accepts the bearer-token protocol, even if it had been offered', () => {
    const token = BEARER_PROTOCOL_PREFIX + 'ZXlKaGJHY2lPaUpTVXpJMU5pSjk'
    assert.equal(upgradeMismatch([...WS_101, 'Sec-WebSocket-Protocol', token], 'websocket', [token]), 'selecting the bearer-token protocol')
  })
})

describe('heads relayed to the client', () => {
  it('the 101 head carries the apiserver\'s lines as sent, Latin-1', () => {
    const head = switchingProtocolsHead(['Upgrade', 'SPDY/3.1', 'X-Stream-Protocol-Version', 'v4.channel.k8s.io', 'X-Odd', 'caf\u00e9'])
    assert.deepEqual(head, Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: SPDY/3.1\r\n' +
      'X-Stream-Protocol-Version: v4.channel.k8s.io\r\nX-Odd: caf\u00e9\r\n\r\n', 'latin1'))
  })
  it('a refusal is self-framed with Connection: close; hop-by-hop lines and those Connection names are dropped', () => {
    const raw = ['Content-Type', 'application/json', 'Transfer-Encoding', 'chunked', 'Connection', 'keep-alive, X-Hop',
      'X-Hop', 'secret-ish', 'Keep-Alive', 'timeout=5', 'Audit-Id', 'a1', 'Upgrade', 'websocket', 'Content-Length', '999']
    const text = refusalHead(403, raw, 42).toString('latin1')
    assert.equal(text, 'HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nAudit-Id: a1\r\n' +
      'Content-Length: 42\r\nConnection: close\r\n\r\n')
  })
  it('a redirect is relayed as the apiserver sent it, never followed', () => {
    const text = refusalHead(302, ['Location', 'https://elsewhere.example/'], 0).toString('latin1')
    assert.match(text, /^HTTP\/1\.1 302 Found\r\nLocation: https:\/\/elsewhere\.example\/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n$/)
  })
  it('an unknown status keeps its code', () => {
    assert.match(refusalHead(599, [], 0).toString('latin1'), /^HTTP\/1\.1 599 Unknown\r\n/)
  })
  it('headerValues finds every line of a name, in any case', () => {
    assert.deepEqual(headerValues(['A', '1', 'b', '2', 'a', '3'], 'a'), ['1', '3'])
  })
})

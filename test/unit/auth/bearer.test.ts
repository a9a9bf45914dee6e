// The bearer token as the apiserver's bearertoken and websocket protocol authenticators read it.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { BEARER_PROTOCOL_PREFIX, parseBearer, takeSubprotocolToken } from '../../../src/auth/bearer.js'

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln'

describe('parseBearer', () => {
  const ok: Array<[string, string]> = [
    [`Bearer ${JWT}`, JWT],
    [`bearer ${JWT}`, JWT],
    [`BEARER ${JWT}`, JWT],
    [`BeArEr ${JWT}`, JWT],
    [`Bearer ${JWT}   `, JWT],
    [`Bearer ${JWT}\t`, JWT],
    ['Bearer x', 'x'],
    ['Bearer abc~+/=', 'abc~+/='],
  ]
  for (const [header, token] of ok) {
    it(`${JSON.stringify(header)} -> token`, () => assert.equal(parseBearer(header), token))
  }

  const bad: Array<[string, string | undefined]> = [
    ['undefined', undefined],
    ['empty', ''],
    ['Bearer alone', 'Bearer'],
    ['Bearer and one space', 'Bearer '],
    ['Bearer and spaces only', 'Bearer    '],
    // The apiserver splits on single spaces: parts[1] is empty, so it does not authenticate (401).
    ['two spaces before the token', `Bearer  ${JWT}`],
    ['four spaces before the token', `Bearer    ${JWT}`],
    ['Basic', 'Basic YWxpY2U6c2VjcmV0'],
    ['Bearerx', `Bearerx ${JWT}`],
    ['no space', `Bearer${JWT}`],
    ['tab separator', `Bearer\t${JWT}`],
    ['leading space', ` Bearer ${JWT}`],
    ['inner space', 'Bearer abc def'],
    ['inner tab', 'Bearer abc\tdef'],
    ['non-ASCII', 'Bearer abcé'],
    ['NUL', 'Bearer abc\u0000'],
    ['DEL', 'Bearer abc\u007f'],
    ['CR LF', 'Bearer abc\r\nX: y'],
    ['Token scheme', `Token ${JWT}`],
    ['Bear', 'Bear x'],
  ]
  for (const [name, header] of bad) {
    it(`${name} -> undefined`, () => assert.equal(parseBearer(header), undefined))
  }
})

describe('takeSubprotocolToken', () => {
  const enc = (t: string): string => BEARER_PROTOCOL_PREFIX + Buffer.from(t).toString('base64url')

  it('no protocols -> none', () => {
    assert.deepEqual(takeSubprotocolToken(undefined), { kind: 'none' })
    assert.deepEqual(takeSubprotocolToken(['v5.channel.k8s.io']), { kind: 'none' })
  })

  it('valid token plus a real protocol -> token, rest without the token protocol', () => {
    const r = takeSubprotocolToken([enc(JWT), 'v5.channel.k8s.io', 'v4.channel.k8s.io'])
    assert.equal(r.kind, 'token')
    if (r.kind !== 'token') return
    assert.equal(r.token, JWT)
    assert.deepEqual(r.rest, ['v5.channel.k8s.io', 'v4.channel.k8s.io'])
    assert.ok(!r.rest.some((p) => p.startsWith(BEARER_PROTOCOL_PREFIX)))
  })

  it('order does not matter', () => {
    const r = takeSubprotocolToken(['v5.channel.k8s.io', enc(JWT)])
    assert.equal(r.kind, 'token')
  })

  const invalid = (protocols: string[], detail: string): void => {
    assert.deepEqual(takeSubprotocolToken(protocols), { kind: 'invalid', detail })
  }

  it('twice, the same token or two different ones -> invalid', () => {
    invalid([enc(JWT), enc(JWT), 'v5.channel.k8s.io'], 'more than one bearer subprotocol')
    invalid([enc(JWT), enc('other'), 'v5.channel.k8s.io'], 'more than one bearer subprotocol')
    invalid(['v5.channel.k8s.io', enc(JWT), enc(JWT)], 'more than one bearer subprotocol')
  })

  it('alone -> invalid', () => {
    invalid([enc(JWT)], 'bearer subprotocol without another protocol')
  })

  it('an empty token -> invalid', () => invalid([BEARER_PROTOCOL_PREFIX, 'v5.channel.k8s.io'], 'empty token'))

  it('base64url of a length Go\'s RawURLEncoding refuses (1 mod 4) -> invalid, though Buffer would decode it', () => {
    const p = enc('abc') + 'Q'
    assert.equal(Buffer.from(p.slice(BEARER_PROTOCOL_PREFIX.length), 'base64url').toString(), 'abc')
    invalid([p, 'v5.channel.k8s.io'], 'bad base64url')
  })

  it('a token that is not UTF-8 -> invalid', () => {
    const p = BEARER_PROTOCOL_PREFIX + Buffer.from([0x61, 0xff, 0xfe, 0x62]).toString('base64url')
    invalid([p, 'v5.channel.k8s.io'], 'token is not UTF-8')
    invalid([BEARER_PROTOCOL_PREFIX + Buffer.from([0xc3]).toString('base64url'), 'v5.channel.k8s.io'], 'token is not UTF-8')
  })

  for (const [name, p] of [
    ['padding', BEARER_PROTOCOL_PREFIX + Buffer.from('abcd').toString('base64')],
    ['padding on a valid token', enc(JWT) + '=='],
    ['standard base64 chars', BEARER_PROTOCOL_PREFIX + 'ab+/cd'],
    ['dots', BEARER_PROTOCOL_PREFIX + 'a.b'],
  ] as const) {
    it(`bad base64url (${name}) -> invalid`, () => {
      invalid([p, 'v5.channel.k8s.io'], 'bad base64url')
    })
  }

  it('decodes to a token with inner space / non-ASCII / trailing space -> invalid', () => {
    assert.equal(takeSubprotocolToken([enc('abc def'), 'v5.channel.k8s.io']).kind, 'invalid')
    assert.equal(takeSubprotocolToken([enc('abcé'), 'v5.channel.k8s.io']).kind, 'invalid')
    assert.equal(takeSubprotocolToken([enc('abc '), 'v5.channel.k8s.io']).kind, 'invalid')
    assert.equal(takeSubprotocolToken([enc('abc\r\nX: 1'), 'v5.channel.k8s.io']).kind, 'invalid')
  })
})

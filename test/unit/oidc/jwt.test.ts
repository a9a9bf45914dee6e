import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeJws, keyFits, TokenError, verifySignatureAsync, verifySignatureSync, type TokenFailure } from '../../../src/oidc/jwt.js'
import { parseJwks, type VerificationKey } from '../../../src/oidc/key-set.js'
import { b64url } from '../../helpers/forge.js'
import { forge, joseSign, jwks, KEYS, T0_SEC, token, validClaims, type TestKey } from './fixtures.js'

const RS256 = new Set(['RS256'])
const ALL = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'])

function failure (fn: () => unknown, expected: TokenFailure): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected TokenError, got ${String(err)}`)
    assert.equal(err.failure, expected)
    return true
  })
}

function vk (k: TestKey): VerificationKey {
  const [key] = parseJwks(jwks(k))
  assert.ok(key !== undefined)
  return key
}

describe('decodeJws', () => {
  it('decodes a valid RS256 token', () => {
    const t = token()
    const d = decodeJws(t, RS256)
    assert.equal(d.alg, 'RS256')
    assert.equal(d.kid, 'k1')
    assert.equal(d.payload.email, 'alice@example.com')
    assert.equal(d.signingInput.toString('latin1'), t.slice(0, t.lastIndexOf('.')))
    assert.equal(d.signature.length, 256)
  })

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`alg ${alg} -> alg_not_allowed (empty and junk signature)`, () => {
      const input = `${b64url(JSON.stringify({ alg, typ: 'JWT' }))}.${b64url(JSON.stringify(validClaims()))}`
      failure(() => decodeJws(`${input}.`, RS256), 'alg_not_allowed')
      failure(() => decodeJws(`${input}.${b64url('junk-signature')}`, RS256), 'alg_not_allowed')
      failure(() => decodeJws(`${input}.`, ALL), 'alg_not_allowed')
    })
  }

  for (const alg of ['HS256', 'HS384', 'rs256', 'RS256 ', 'ES256K', '']) {
    it(`alg ${JSON.stringify(alg)} is never allowed, even if listed`, () => {
      const t = `${b64url(JSON.stringify({ alg }))}.${b64url('{}')}.${b64url('sig')}`
      failure(() => decodeJws(t, new Set([alg, 'RS256'])), 'alg_not_allowed')
    })
  }

  it('alg missing or not a string -> alg_not_allowed', () => {
    failure(() => decodeJws(`${b64url('{}')}.${b64url('{}')}.${b64url('s')}`, RS256), 'alg_not_allowed')
    failure(() => decodeJws(`${b64url('{"alg":["RS256"]}')}.${b64url('{}')}.${b64url('s')}`, RS256), 'alg_not_allowed')
  })

  it('an allowed alg missing from the allow-list is refused (PS256, ES256 when only RS256)', () => {
    failure(() => decodeJws(token(validClaims(), KEYS.ps, 'PS256'), RS256), 'alg_not_allowed')
    failure(() => decodeJws(token(validClaims(), KEYS.ec, 'ES256'), RS256), 'alg_not_allowed')
  })

  for (const name of ['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64', 'zip', 'enc']) {
    it(`header ${name} -> forbidden_header`, () => {
      const value = name === 'jwk' ? KEYS.attacker.jwk : name === 'crit' ? ['exp'] : name === 'x5c' ? ['MIIB'] : name === 'b64' ? false : 'https://attacker.example/keys'
      failure(() => decodeJws(token(validClaims(), KEYS.k1, 'RS256', { [name]: value }), RS256), 'forbidden_header')
    })
  }

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['one segment', 'abc'],
    ['two segments', 'abc.def'],
    ['four segments', 'a.b.c.d'],
    ['JWE-like five segments', 'a.b.c.d.e'],
    ['empty header', `.${b64url('{}')}.${b64url('s')}`],
    ['header not base64url', `${Buffer.from('{"alg":"RS256"}').toString('base64')}+/.${b64url('{}')}.${b64url('s')}`],
    ['header not JSON', `${b64url('not json')}.${b64url('{}')}.${b64url('s')}`],
    ['header an array', `${b64url('["RS256"]')}.${b64url('{}')}.${b64url('s')}`],
    ['header with padding', `${Buffer.from('{"alg":"RS256","k":12}').toString('base64')}.${b64url('{}')}.${b64url('s')}`],
  ]
  for (const [name, t] of malformed) {
    it(`${name} -> malformed`, () => failure(() => decodeJws(t, RS256), 'malformed'))
  }

  it('payload not JSON / not an object / empty -> malformed', () => {
    const h = b64url(JSON.stringify({ alg: 'RS256', kid: 'k1' }))
    failure(() => decodeJws(`${h}.${b64url('nope')}.${b64url('s')}`, RS256), 'malformed')
    failure(() => decodeJws(`${h}.${b64url('[1]')}.${b64url('s')}`, RS256), 'malformed')
    failure(() => decodeJws(`${h}.${b64url('"str"')}.${b64url('s')}`, RS256), 'malformed')
    failure(() => decodeJws(`${h}..${b64url('s')}`, RS256), 'malformed')
    failure(() => decodeJws(`${h}.${b64url('null')}.${b64url('s')}`, RS256), 'malformed')
  })

  it('empty or non-base64url signature -> malformed', () => {
    const input = `${b64url(JSON.stringify({ alg: 'RS256', kid: 'k1' }))}.${b64url('{}')}`
    failure(() => decodeJws(`${input}.`, RS256), 'malformed')
    failure(() => decodeJws(`${input}.ab=`, RS256), 'malformed')
    failure(() => decodeJws(`${input}.a b`, RS256), 'malformed')
  })

  it('kid not a string -> malformed', () => {
    failure(() => decodeJws(token(validClaims(), KEYS.k1, 'RS256', { kid: 5 }), RS256), 'malformed')
  })
})

describe('keyFits', () => {
  it('RSA key fits RS256 and PS256 (no JWK alg), not ES256/EdDSA', () => {
    const k = { ...vk(KEYS.k1), alg: undefined }
    assert.equal(keyFits(k, 'RS256'), true)
    assert.equal(keyFits(k, 'PS256'), true)
    assert.equal(keyFits(k, 'ES256'), false)
    assert.equal(keyFits(k, 'EdDSA'), false)
  })
  it('the JWK alg must match the token alg (RS384 key cannot verify RS256)', () => {
    assert.equal(keyFits(vk(KEYS.rs384), 'RS256'), false)
    assert.equal(keyFits(vk(KEYS.rs384), 'RS384'), true)
    assert.equal(keyFits(vk(KEYS.k1), 'PS256'), false)
  })
  it('EC key fits only its curve', () => {
    const ec = { ...vk(KEYS.ec), alg: undefined }
    assert.equal(keyFits(ec, 'ES256'), true)
    assert.equal(keyFits(ec, 'ES384'), false)
    assert.equal(keyFits(ec, 'RS256'), false)
  })
  it('Ed25519 fits EdDSA only', () => {
    assert.equal(keyFits(vk(KEYS.ed), 'EdDSA'), true)
    assert.equal(keyFits({ ...vk(KEYS.ed), alg: undefined }, 'ES256'), false)
  })
  it('unknown algs never fit', () => {
    assert.equal(keyFits(vk(KEYS.k1), 'HS256'), false)
    assert.equal(keyFits(vk(KEYS.k1), 'none'), false)
  })
})

describe('verifySignatureSync / verifySignatureAsync', () => {
  async function both (t: string, key: TestKey, algs = ALL): Promise<[boolean, boolean]> {
    const d = decodeJws(t, algs)
    const k = vk(key)
    return [verifySignatureSync(d, k), await verifySignatureAsync(d, k)]
  }

  it('RS256 signed by jose verifies with the right key only', async () => {
    const t = await joseSign(validClaims(), KEYS.k1)
    assert.deepEqual(await both(t, KEYS.k1), [true, true])
    assert.deepEqual(await both(t, KEYS.k2), [false, false])
  })

  it('ES256, ES384, PS256, EdDSA signed by jose verify', async () => {
    assert.deepEqual(await both(await joseSign(validClaims(), KEYS.ec, 'ES256'), KEYS.ec), [true, true])
    assert.deepEqual(await both(await joseSign(validClaims(), KEYS.ec384, 'ES384'), KEYS.ec384), [true, true])
    assert.deepEqual(await both(await joseSign(validClaims(), KEYS.ps, 'PS256'), KEYS.ps), [true, true])
    assert.deepEqual(await both(await joseSign(validClaims(), KEYS.ed, 'EdDSA'), KEYS.ed), [true, true])
  })

  it('ECDSA signatures in DER form or of the wrong length are refused', async () => {
    const t = await joseSign(validClaims(), KEYS.ec, 'ES256')
    const [h, p, s] = t.split('.') as [string, string, string]
    const raw = Buffer.from(s, 'base64url')
    const der = Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), raw.subarray(0, 32), Buffer.from([0x02, 0x20]), raw.subarray(32)])
    assert.deepEqual(await both(`${h}.${p}.${b64url(der)}`, KEYS.ec), [false, false])
    assert.deepEqual(await both(`${h}.${p}.${b64url(raw.subarray(0, 63))}`, KEYS.ec), [false, false])
  })

  it('a tampered payload fails', async () => {
    const t = token()
    const [h, , s] = t.split('.') as [string, string, string]
    const tampered = `${h}.${b64url(JSON.stringify(validClaims(T0_SEC, { email: 'admin@example.com' })))}.${s}`
    assert.deepEqual(await both(tampered, KEYS.k1), [false, false])
  })

  it('a junk signature fails without throwing', async () => {
    const t = forge({ alg: 'RS256', kid: 'k1' }, validClaims(), KEYS.k1.privateKey)
    const junk = `${t.slice(0, t.lastIndexOf('.'))}.${b64url(Buffer.alloc(7, 1))}`
    assert.deepEqual(await both(junk, KEYS.k1), [false, false])
  })
})

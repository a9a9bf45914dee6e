import type { KeyObject } from 'node:crypto'
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose'
import { decodeJws, verifySignatureAsync, verifySignatureSync } from '../../src/oidc/jwt.js'
import { parseJwks } from '../../src/oidc/key-set.js'
import type { MicroCase } from './harness.js'

/** RS256 three ways: node:crypto sync and on the libuv pool (kubegate), and jose's jwtVerify (WebCrypto). */
export function cases (token: string, publicKey: KeyObject, kid: string, issuer: string): MicroCase[] {
  const jwks: JSONWebKeySet = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' } as never] }
  const key = parseJwks(jwks)[0]
  if (key === undefined) throw new Error('no key')
  const allowed = new Set(['RS256'])
  const jwksLocal = createLocalJWKSet(jwks)
  return [
    { name: 'JWS decode (split, base64url, JSON)', fn: () => decodeJws(token, allowed) },
    { name: 'RS256 verify, node:crypto sync (decode + verify)', fn: () => verifySignatureSync(decodeJws(token, allowed), key) },
    { name: 'RS256 verify, node:crypto async on libuv pool (x8 in flight)', fn: () => verifySignatureAsync(decodeJws(token, allowed), key), async: true, concurrency: 8 },
    { name: 'RS256 verify, jose jwtVerify (x8 in flight)', fn: () => jwtVerify(token, jwksLocal, { issuer, audience: 'kubegate', algorithms: ['RS256'] }), async: true, concurrency: 8 },
    { name: 'RS256 verify, jose jwtVerify (sequential)', fn: () => jwtVerify(token, jwksLocal, { issuer, audience: 'kubegate', algorithms: ['RS256'] }), async: true, concurrency: 1 },
  ]
}

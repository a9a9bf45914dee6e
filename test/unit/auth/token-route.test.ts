// Unit tests: routing bearer tokens by their unverified issuer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { singleIssuerRoute, unverifiedClaims, unverifiedIssuer } from '../../../src/auth/token-route.js'

const seg = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
const jwt = (claims: unknown): string => `${seg({ alg: 'RS256' })}.${seg(claims)}.c2ln`

describe('unverifiedIssuer', () => {
  it('reads iss from a compact JWS without verifying it', () => {
    assert.equal(unverifiedIssuer(jwt({ iss: 'https://dex.example.com', sub: 'x' })), 'https://dex.example.com')
    assert.deepEqual(unverifiedClaims(jwt({ exp: 5 })), { exp: 5 })
  })
  it('undefined for opaque tokens, garbage and JWS without a string iss', () => {
    for (const t of ['opaque-token', 'a.b', 'a.b.c.d', '.x.y', `${seg({})}.!!.x`, `${seg({})}.${seg([1])}.x`, jwt({ iss: 7 }), `${seg({})}.${Buffer.from('nope').toString('base64url')}.x`]) {
      assert.equal(unverifiedIssuer(t), undefined, t)
    }
  })
})

describe('singleIssuerRoute', () => {
  it('true only for an exact issuer match', () => {
    const route = singleIssuerRoute('https://dex.example.com')
    assert.equal(route(jwt({ iss: 'https://dex.example.com' })), true)
    assert.equal(route(jwt({ iss: 'https://dex.example.com/' })), false)
    assert.equal(route(jwt({ iss: 'https://kubernetes.default.svc.cluster.local' })), false)
    assert.equal(route('opaque'), false)
  })
})

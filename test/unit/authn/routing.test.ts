// Routing a token to its issuer by the unverified `iss`, as kube-apiserver does: exact match, malformed tokens match nothing.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { IssuerRouter, untrustedIssuer } from '../../../src/authn/routing.js'

const b64 = (o: unknown): string => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url')
const token = (payload: unknown): string => `${b64({ alg: 'RS256' })}.${b64(payload)}.sig`

describe('authn routing', () => {
  const router = new IssuerRouter([['https://a.example.com', 'A'], ['https://b.example.com/dex', 'B'], ['https://accounts.google.com', 'G']])
  it('routes by exact iss', () => {
    assert.equal(router.route(token({ iss: 'https://a.example.com' })), 'A')
    assert.equal(router.route(token({ iss: 'https://b.example.com/dex' })), 'B')
  })
  it('no trailing-slash, case or prefix folding', () => {
    for (const iss of ['https://a.example.com/', 'https://A.example.com', 'https://b.example.com', 'https://b.example.com/dex/x', 'http://a.example.com']) {
      assert.equal(router.route(token({ iss })), undefined, iss)
    }
  })
  it('no iss, a non-string iss, or no configured issuer: nothing', () => {
    assert.equal(router.route(token({ sub: 'x' })), undefined)
    assert.equal(router.route(token({ iss: 1 })), undefined)
    assert.equal(router.route(token({ iss: 'https://c.example.com' })), undefined)
  })
  it('malformed tokens: nothing', () => {
    for (const t of ['', 'a.b', 'a.b.c.d', `x.${b64({ iss: 'https://a.example.com' })}=.y`, `x.${b64('not json')}.y`, `x.${b64([1])}.y`, '{"iss":"https://a.example.com"}', `x.${b64({ iss: 'https://a.example.com' })}+.y`]) {
      assert.equal(router.route(t), undefined, t)
    }
  })
  it("Google's legacy issuer is coalesced, as upstream", () => {
    assert.equal(untrustedIssuer(token({ iss: 'accounts.google.com' })), 'https://accounts.google.com')
    assert.equal(router.route(token({ iss: 'accounts.google.com' })), 'G')
  })
  it('hasIssuer answers for the nested-impersonation TokenReview routing', () => {
    assert.equal(router.hasIssuer('https://a.example.com'), true)
    assert.equal(router.hasIssuer('https://a.example.com/'), false)
    assert.deepEqual(router.issuers, ['https://a.example.com', 'https://b.example.com/dex', 'https://accounts.google.com'])
  })
})

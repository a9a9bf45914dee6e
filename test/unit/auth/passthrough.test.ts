// Unit tests: which tokens are passed through to the TokenReview and which stay with kubegate's own verification.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Authenticated, Authenticator } from '../../../src/auth/authenticator.js'
import { createPassthroughRoute } from '../../../src/auth/passthrough.js'
import { ClientCredential, type PassedThrough, type TokenReviewer } from '../../../src/auth/token-review.js'
import { singleIssuerRoute } from '../../../src/auth/token-route.js'
import { withPassthrough } from '../../../src/auth/with-passthrough.js'

const ISSUER = 'https://dex.example.com'
const seg = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
const jwt = (iss: string): string => `${seg({ alg: 'RS256' })}.${seg({ iss })}.c2ln`
const id = { user: 'u', groups: [], uid: undefined, sub: 'u', exp: 2_000_000_000, iat: undefined }

function fakeReviewer (seen: string[]): TokenReviewer {
  return {
    async review (token) {
      seen.push(token)
      return { identity: { ...id, user: 'system:serviceaccount:ci:bot' }, headers: [], tokenHash: 'r', keyId: undefined, passthrough: new ClientCredential(token) } satisfies PassedThrough
    },
    cached: () => undefined,
    evict: () => 2,
    clear: () => {},
    size: 3,
    stats: { hits: 0, misses: 0, negativeHits: 0 },
  }
}

function fakeAuthenticator (seen: string[]): Authenticator {
  const a: Authenticated = { identity: id, headers: [], tokenHash: 'o', keyId: 'k' }
  return {
    authenticate (token) {
      seen.push(token)
      return a
    },
    cached: () => undefined,
    evict: () => 1,
    size: 5,
    stats: { hits: 0, misses: 0, negativeHits: 0 },
    clear: () => {},
  }
}

describe('passthrough routing', () => {
  it('tokens of the configured issuer stay with kubegate; everything else is reviewed', async () => {
    const reviewed: string[] = []
    const verified: string[] = []
    const auth = withPassthrough(fakeAuthenticator(verified), createPassthroughRoute(singleIssuerRoute(ISSUER), fakeReviewer(reviewed)), fakeReviewer(reviewed))
    for (const t of [jwt(ISSUER), jwt('https://kubernetes.default.svc.cluster.local'), 'opaque', jwt(`${ISSUER}/`)]) await auth.authenticate(t)
    assert.deepEqual(verified, [jwt(ISSUER)])
    assert.deepEqual(reviewed, [jwt('https://kubernetes.default.svc.cluster.local'), 'opaque', jwt(`${ISSUER}/`)])
    assert.equal(auth.evict(() => true), 3, 'revocation evicts from both caches')
    assert.equal(auth.size, 8)
  })

  it('without a reviewer (passthrough off) nothing is routed away', () => {
    const route = createPassthroughRoute(singleIssuerRoute(ISSUER), undefined)
    assert.equal(route('opaque'), undefined)
    assert.equal(route(jwt('https://kubernetes.default.svc.cluster.local')), undefined)
  })
})

// Several issuers behind one token cache: the unverified iss picks the verifier, the verified iss the mapping; readiness per issuer.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createIssuerSet, type IssuerVerifier } from '../../../src/authn/issuer-set.js'
import { isKubegateError } from '../../../src/errors.js'
import { file, jwt, load } from './helpers.js'

const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url')
const token = (payload: Record<string, unknown>): string => `${b64({ alg: 'RS256' })}.${b64(payload)}.sig`

/** A verifier for one issuer that accepts exactly its own `iss` (the signature is the real verifier's job, tested in test/unit/oidc). */
class RecordingVerifier implements IssuerVerifier {
  readonly seen: string[] = []
  ready = true
  constructor (readonly url: string) {}
  async verify (t: string): Promise<{ payload: Record<string, unknown>, exp: number }> {
    this.seen.push(t)
    const payload = JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
    if (payload.iss !== this.url) throw new Error('iss mismatch')
    return { payload, exp: 2_000_000_000 }
  }

  isReady (): boolean { return this.ready }
  status (): { discovered: boolean, jwksLoaded: boolean } { return { discovered: true, jwksLoaded: this.ready } }
  async start (): Promise<void> {}
  async close (): Promise<void> {}
}

describe('authn issuer set', () => {
  const loaded = load(file([
    jwt({ issuer: { url: 'https://dex.example.com', audiences: ['kubegate'] }, claimMappings: { username: { claim: 'email', prefix: '' } } }),
    jwt({ issuer: { url: 'https://ci.example.com', audiences: ['kubegate'] }, claimMappings: { username: { expression: "'ci:' + claims.project" } } }),
    jwt({ issuer: { url: 'https://other.example.com/tenant', audiences: ['x'] }, claimMappings: { username: { claim: 'sub', prefix: 'other:' } } }),
  ]))
  const verifiers = new Map<string, RecordingVerifier>()
  const set = createIssuerSet(loaded, { allowReservedIdentities: false, maxGroups: 256 }, (a) => {
    const v = new RecordingVerifier(a.config.issuer.url)
    verifiers.set(a.config.issuer.url, v)
    return v
  })

  it('each token goes to its own issuer only, and is mapped with that issuer rules', async () => {
    const dex = token({ iss: 'https://dex.example.com', email: 'a@x.io', sub: '1' })
    const ci = token({ iss: 'https://ci.example.com', project: 'web', sub: '2' })
    const v1 = await set.verify(dex)
    const v2 = await set.verify(ci)
    assert.deepEqual(verifiers.get('https://dex.example.com')?.seen, [dex])
    assert.deepEqual(verifiers.get('https://ci.example.com')?.seen, [ci])
    assert.equal(verifiers.get('https://other.example.com/tenant')?.seen.length, 0)
    assert.equal(set.mapClaims(v1.payload, v1.exp).user, 'a@x.io')
    assert.equal(set.mapClaims(v2.payload, v2.exp).user, 'ci:web')
  })
  it('a token of no configured issuer is a 401 without touching any verifier', async () => {
    await assert.rejects(set.verify(token({ iss: 'https://evil.example.com', sub: 'x' })), (e: unknown) => isKubegateError(e) && e.statusCode === 401 && e.failure === 'unknown_issuer')
    await assert.rejects(set.verify('not-a-jwt'), (e: unknown) => isKubegateError(e) && e.statusCode === 401)
    assert.equal([...verifiers.values()].reduce((n, v) => n + v.seen.length, 0), 2)
  })
  it('readiness reports each issuer', () => {
    (verifiers.get('https://ci.example.com') as RecordingVerifier).ready = false
    assert.deepEqual(set.readiness(), [
      { issuer: 'https://dex.example.com', problem: undefined },
      { issuer: 'https://ci.example.com', problem: 'key set not loaded' },
      { issuer: 'https://other.example.com/tenant', problem: undefined },
    ])
  })
  it('routing is exposed for TokenReview routing (nested impersonation)', () => {
    assert.equal(set.router.hasIssuer('https://ci.example.com'), true)
    assert.equal(set.router.route(token({ iss: 'https://nope' })), undefined)
  })
})

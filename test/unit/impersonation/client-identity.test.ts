// Unit tests: the client identity headers step (off, foreign headers, malformed, allowed, denied, passthrough).
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { ClientCredential, type PassedThrough } from '../../../src/auth/token-review.js'
import { KubegateError } from '../../../src/errors.js'
import { authenticatedIdentity, createClientIdentityStep, isActingAs } from '../../../src/impersonation/client-identity.js'
import type { Authorize, Subject } from '../../../src/impersonation/decide.js'
import { scanClientHeaders } from '../../../src/impersonation/client-headers.js'
import { buildImpersonationHeaders } from '../../../src/impersonation/headers.js'

const aliceId = { user: 'alice@example.com', groups: ['instructors'], uid: undefined, sub: 's', exp: 2_000_000_000, iat: undefined }
const alice: Authenticated = { identity: aliceId, headers: buildImpersonationHeaders(aliceId), tokenHash: 'h', keyId: 'k' }

function allowUsers (seen: Subject[] = []): Authorize {
  return async (s, a) => {
    seen.push(s)
    return { allowed: a.resource === 'users' || a.resource === 'groups', reason: '' }
  }
}

/** What the header scan reports for these lines (only identity lines matter to the step). */
function scan (raw: string[]): { identityHeader: boolean, identityLines: string[] | undefined } {
  const s = scanClientHeaders(raw)
  return { identityHeader: s.identityHeader, identityLines: s.identityLines }
}

function pairs (flat: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < flat.length; i += 2) out.push(`${flat[i]}: ${flat[i + 1]}`)
  return out
}

describe('client identity step', () => {
  it('no identity header: the verified identity, synchronously, no question asked', () => {
    let asked = 0
    const step = createClientIdentityStep({ nested: true, authorize: async () => { asked++; return { allowed: true, reason: '' } } })
    assert.equal(step(alice, scan(['Accept', '*/*'])), alice)
    assert.equal(asked, 0)
  })

  it('nested impersonation off: 403 as before', () => {
    const step = createClientIdentityStep({ nested: false, authorize: allowUsers() })
    const r = step(alice, scan(['Impersonate-User', 'bob']))
    assert.ok(r instanceof KubegateError)
    assert.equal(r.code, 'KG_ERR_IDENTITY_HEADERS')
  })

  it('X-Remote-* and other foreign identity headers: 403 even with nested impersonation on', () => {
    const step = createClientIdentityStep({ nested: true, authorize: allowUsers() })
    const r = step(alice, scan(['Impersonate-User', 'bob', 'X-Remote-User', 'root']))
    assert.ok(r instanceof KubegateError && r.statusCode === 403)
  })

  it('a group without a user: the apiserver\'s 500', () => {
    const step = createClientIdentityStep({ nested: true, authorize: allowUsers() })
    const r = step(alice, scan(['Impersonate-Group', 'admins']))
    assert.ok(r instanceof KubegateError && r.statusCode === 500 && r.code === 'KG_ERR_IMPERSONATION_INVALID')
  })

  it('allowed: forwards as the new identity with kubegate-built lines; the SAR subject is the verified identity', async () => {
    const seen: Subject[] = []
    const step = createClientIdentityStep({ nested: true, authorize: allowUsers(seen) })
    const r = await step(alice, scan(['Impersonate-User', 'bob@example.com', 'Impersonate-Group', 'dev', 'Impersonate-Group', 'ops']))
    assert.ok(!(r instanceof KubegateError) && isActingAs(r))
    assert.deepEqual(pairs(r.headers), ['Impersonate-User: bob@example.com', 'Impersonate-Group: dev', 'Impersonate-Group: ops', 'Impersonate-Group: system:authenticated'])
    assert.equal(authenticatedIdentity(r), aliceId)
    assert.equal(r.tokenHash, alice.tokenHash)
    assert.deepEqual(seen.map((s) => s.user), ['alice@example.com', 'alice@example.com', 'alice@example.com'])
    assert.deepEqual(seen[0]?.groups, ['instructors', 'system:authenticated'])
  })

  it('denied: the Forbidden error, not a forward', async () => {
    const step = createClientIdentityStep({ nested: true, authorize: allowUsers() })
    const r = await step(alice, scan(['Impersonate-User', 'bob', 'Impersonate-Uid', '1']))
    assert.ok(r instanceof KubegateError)
    assert.equal(r.message, 'uids.authentication.k8s.io "1" is forbidden: User "alice@example.com" cannot impersonate resource "uids" in API group "authentication.k8s.io" at the cluster scope')
  })

  it('a passed-through token: lines rebuilt one per value, left to the apiserver (no SAR)', async () => {
    let asked = 0
    const step = createClientIdentityStep({ nested: true, authorize: async () => { asked++; return { allowed: false, reason: '' } } })
    const sa: PassedThrough = {
      identity: { ...aliceId, user: 'system:serviceaccount:ci:bot' }, headers: [], tokenHash: 't', keyId: undefined, passthrough: new ClientCredential('tok'),
    }
    const r = await step(sa, scan(['Impersonate-User', 'bob', 'Impersonate-Extra-Example.org%2fTeam', 'x']))
    assert.ok(!(r instanceof KubegateError))
    assert.deepEqual(pairs(r.headers), ['Impersonate-User: bob', 'Impersonate-Extra-example.org%2Fteam: x'])
    assert.equal((r as PassedThrough).passthrough.authorization, 'Bearer tok')
    assert.equal(asked, 0)
  })
})

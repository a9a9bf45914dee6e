// The `--oidc-*` flags as one JWT authenticator: the same identities and refusals as the previous flag mapper (previous-flag-mapper.ts) on a grid of settings and tokens.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createClaimMapper } from './previous-flag-mapper.js'
import { authenticationFromFlags, jwtAuthenticatorFromFlags, usernamePrefixFromFlags } from '../../../src/authn/from-flags.js'
import { createIdentityMapper } from '../../../src/authn/map-identity.js'
import { isKubegateError } from '../../../src/errors.js'

const ISSUER = 'https://dex.example.com'
const EXP = 2_000_000_000

interface Flags {
  usernameClaim: string
  usernamePrefix?: string
  groupsClaim?: string
  groupsPrefix?: string
  uidClaim?: string
  requiredClaims: Record<string, string>
  allowReservedIdentities: boolean
}

const SETTINGS: Flags[] = [
  { usernameClaim: 'sub', requiredClaims: {}, allowReservedIdentities: false },
  { usernameClaim: 'email', groupsClaim: 'groups', requiredClaims: {}, allowReservedIdentities: false },
  { usernameClaim: 'email', usernamePrefix: '-', groupsClaim: 'groups', groupsPrefix: 'dex:', uidClaim: 'sub', requiredClaims: { hd: 'example.com' }, allowReservedIdentities: false },
  { usernameClaim: 'sub', usernamePrefix: 'oidc:', groupsClaim: 'role', requiredClaims: {}, allowReservedIdentities: true },
]

const TOKENS: Array<Record<string, unknown>> = [
  { sub: 'alice', email: 'alice@example.com', groups: ['dev'], hd: 'example.com', role: 'admin' },
  { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: 'dev', hd: 'example.com' },
  { sub: 'alice', email: 'alice@example.com', email_verified: false, hd: 'example.com' },
  { sub: 'alice', email: 'alice@example.com', email_verified: 'true', hd: 'example.com' },
  { sub: 'alice', email: 'alice@example.com', hd: 'other.com' },
  { sub: 'alice', email: 'alice@example.com' },
  { sub: 'alice', email: 'alice@example.com', hd: 1 },
  { email: 'alice@example.com', hd: 'example.com' },
  { sub: '', email: '', hd: 'example.com' },
  { sub: ' alice', email: 'alice@example.com ', hd: 'example.com' },
  { sub: 'a\nb', email: 'a\u0085@x', hd: 'example.com' },
  { sub: 'system:admin', email: 'system:admin', hd: 'example.com', role: 'system:masters' },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['system:masters'] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['dev', 'dev', 'ops'] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['dev', ''] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['dev', null] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: null },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: {} },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: [' dev'] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: Array.from({ length: 300 }, (_, i) => `g${i}`) },
  { sub: 42, email: 42, hd: 'example.com' },
  { sub: null, email: null, hd: 'example.com' },
  { sub: 'a,b', email: 'a,b@x', hd: 'example.com' },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['dev,system:masters'] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', groups: ['開発チーム'] },
  { sub: 'alice', email: 'alice@example.com', hd: 'example.com', iat: 1_700_000_000 },
]

type Outcome = { identity: unknown } | { refused: string }

function outcome (f: () => unknown): Outcome {
  try {
    return { identity: f() }
  } catch (err) {
    assert.ok(isKubegateError(err), String(err))
    return { refused: `${err.statusCode} ${err.code}` }
  }
}

describe('authn: --oidc-* flags through the AuthenticationConfiguration model', () => {
  it('the default username prefix rules', () => {
    assert.equal(usernamePrefixFromFlags(ISSUER, 'sub', undefined), ISSUER + '#')
    assert.equal(usernamePrefixFromFlags(ISSUER, 'email', undefined), '')
    assert.equal(usernamePrefixFromFlags(ISSUER, 'sub', '-'), '')
    assert.equal(usernamePrefixFromFlags(ISSUER, 'sub', 'x:'), 'x:')
  })
  it('one authenticator with the client id as its only audience and required claims as claim rules', () => {
    const a = jwtAuthenticatorFromFlags({ issuerUrl: ISSUER, clientId: 'kg', usernameClaim: 'email', requiredClaims: { hd: 'x' }, signingAlgs: ['RS256'] } as never, undefined)
    assert.deepEqual(a.issuer.audiences, ['kg'])
    assert.deepEqual(a.claimValidationRules, [{ claim: 'hd', requiredValue: 'x', expression: '', message: '' }])
  })
  SETTINGS.forEach((flags, s) => {
    it(`setting ${s}: every token maps exactly as the flag mapper does`, () => {
      const options = { ...flags, issuerUrl: ISSUER, clientId: 'kubegate', signingAlgs: ['RS256'] as const, maxGroups: 256 }
      const old = createClaimMapper(options)
      const loaded = authenticationFromFlags(options, undefined)
      assert.deepEqual(loaded.signingAlgs, ['RS256'])
      const mapper = createIdentityMapper(loaded.authenticators[0]!, { allowReservedIdentities: flags.allowReservedIdentities, maxGroups: 256 })
      for (const t of TOKENS) {
        // The one deliberate difference from the flag mapper: `groups: null` is no groups, as the apiserver
        // unmarshals it (the flag mapper refused the token); kubegate never refused it for safety's sake.
        if (flags.groupsClaim === 'groups' && t.groups === null) {
          assert.deepEqual((outcome(() => mapper(t, EXP)) as { identity: { groups: unknown } }).identity.groups, [])
          continue
        }
        const expected = outcome(() => old(t, EXP))
        const got = outcome(() => mapper(t, EXP))
        if ('identity' in expected && 'identity' in got) {
          const { extra: _e, ...rest } = got.identity as Record<string, unknown>
          assert.deepEqual(rest, expected.identity, JSON.stringify(t))
        } else {
          assert.deepEqual(got, expected, JSON.stringify(t))
        }
      }
    })
  })
  it('a group with a comma is refused (the ci-fixes rule, applied to both paths; the apiserver never splits it)', () => {
    const loaded = authenticationFromFlags({ issuerUrl: ISSUER, clientId: 'kg', usernameClaim: 'sub', groupsClaim: 'groups', requiredClaims: {}, signingAlgs: ['RS256'] } as never, undefined)
    const mapper = createIdentityMapper(loaded.authenticators[0]!, { allowReservedIdentities: false, maxGroups: 256 })
    assert.deepEqual(outcome(() => mapper({ sub: 'a', groups: ['dev,system:masters'] }, EXP)), { refused: '401 KG_ERR_BAD_CLAIMS' })
  })
})

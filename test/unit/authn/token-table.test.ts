// 60+ token cases with the semantics of kube-apiserver's JWT authenticator tests (oidc_test.go), written for kubegate: claims in, identity or 401 out.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isKubegateError } from '../../../src/errors.js'
import { createIdentityMapper } from '../../../src/authn/map-identity.js'
import { file, jwt, load } from './helpers.js'

interface Want { user: string, groups?: string[], uid?: string, extra?: Record<string, string[]> }
interface Case {
  name: string
  /** Replaces jwt() fields: claimMappings, claimValidationRules, userValidationRules. */
  config?: Record<string, unknown>
  claims: Record<string, unknown>
  want: Want | { refused: RegExp }
}

const U = { username: { claim: 'sub', prefix: '' } }
const cm = (m: Record<string, unknown>): Record<string, unknown> => ({ claimMappings: { ...U, ...m } })
const big = Array.from({ length: 3000 }, (_, i) => `g${i}`)

const CASES: Case[] = [
  // username by claim
  { name: 'username claim with a prefix', config: { claimMappings: { username: { claim: 'sub', prefix: 'oidc:' } } }, claims: { sub: 'alice' }, want: { user: 'oidc:alice' } },
  { name: 'username claim with an empty prefix', claims: { sub: 'alice' }, config: cm({}), want: { user: 'alice' } },
  { name: 'username claim missing', config: cm({}), claims: { email: 'a@x' }, want: { refused: /username claim sub not present/ } },
  { name: 'username claim a number', config: cm({}), claims: { sub: 42 }, want: { refused: /not a string/ } },
  { name: 'username claim null (apiserver: bare prefix; kubegate refuses)', config: cm({}), claims: { sub: null }, want: { refused: /not a string/ } },
  { name: 'email with email_verified true', config: cm({ username: { claim: 'email', prefix: '' } }), claims: { email: 'a@x.io', email_verified: true }, want: { user: 'a@x.io' } },
  { name: 'email with email_verified false', config: cm({ username: { claim: 'email', prefix: '' } }), claims: { email: 'a@x.io', email_verified: false }, want: { refused: /email not verified/ } },
  { name: 'email without email_verified is accepted', config: cm({ username: { claim: 'email', prefix: '' } }), claims: { email: 'a@x.io' }, want: { user: 'a@x.io' } },
  { name: 'email_verified as a string is an error', config: cm({ username: { claim: 'email', prefix: '' } }), claims: { email: 'a@x.io', email_verified: 'true' }, want: { refused: /email_verified/ } },
  { name: 'email_verified is only looked at for a claim named email', config: cm({ username: { claim: 'mail', prefix: '' } }), claims: { mail: 'a@x.io', email_verified: false }, want: { user: 'a@x.io' } },
  // username by expression
  { name: 'username expression from two claims', config: cm({ username: { expression: "claims.sub + '@' + claims.tenant" } }), claims: { sub: 'bob', tenant: 't1' }, want: { user: 'bob@t1' } },
  { name: 'username expression with the strings extension', config: cm({ username: { expression: "claims.preferred.lowerAscii().split('@')[0]" } }), claims: { preferred: 'Bob@Example.COM' }, want: { user: 'bob' } },
  { name: 'username expression returning an int', config: cm({ username: { expression: 'claims.n' } }), claims: { n: 3 }, want: { refused: /must return a string/ } },
  { name: 'username expression returning ""', config: cm({ username: { expression: "claims.sub.substring(0, 0)" } }), claims: { sub: 'x' }, want: { refused: /empty username via CEL/ } },
  { name: 'username expression on a missing claim', config: cm({ username: { expression: 'claims.nope' } }), claims: { sub: 'x' }, want: { refused: /resulted in error/ } },
  { name: 'username from claims.email guarded by a rule on email_verified', config: { claimMappings: { username: { expression: 'claims.email' } }, claimValidationRules: [{ expression: 'claims.email_verified == true', message: 'verify your email' }] }, claims: { email: 'a@x.io', email_verified: false }, want: { refused: /verify your email/ } },
  { name: 'username from claims.email with email_verified true', config: { claimMappings: { username: { expression: 'claims.email' } }, claimValidationRules: [{ expression: 'claims.email_verified == true' }] }, claims: { email: 'a@x.io', email_verified: true }, want: { user: 'a@x.io' } },
  // groups by claim
  { name: 'groups claim array with a prefix', config: cm({ groups: { claim: 'groups', prefix: 'oidc:' } }), claims: { sub: 'a', groups: ['dev', 'ops'] }, want: { user: 'a', groups: ['oidc:dev', 'oidc:ops'] } },
  { name: 'groups claim as a single string', config: cm({ groups: { claim: 'role', prefix: '' } }), claims: { sub: 'a', role: 'admin' }, want: { user: 'a', groups: ['admin'] } },
  { name: 'groups claim absent: no groups', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a' }, want: { user: 'a', groups: [] } },
  { name: 'groups claim a number', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a', groups: 1 }, want: { refused: /neither a string nor an array/ } },
  { name: 'groups claim array with a non-string', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a', groups: ['a', 2] }, want: { refused: /neither a string nor an array/ } },
  { name: 'groups claim with an empty string (kubegate refuses; the apiserver would keep "")', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a', groups: ['a', ''] }, want: { refused: /group is empty/ } },
  // groups by expression
  { name: 'groups expression returning a string', config: cm({ groups: { expression: 'claims.role' } }), claims: { sub: 'a', role: 'dev' }, want: { user: 'a', groups: ['dev'] } },
  { name: 'groups expression returning a list', config: cm({ groups: { expression: "claims.roles.map(r, 'role:' + r)" } }), claims: { sub: 'a', roles: ['x', 'y'] }, want: { user: 'a', groups: ['role:x', 'role:y'] } },
  { name: 'groups expression returning "" means none', config: cm({ groups: { expression: 'claims.role' } }), claims: { sub: 'a', role: '' }, want: { user: 'a', groups: [] } },
  { name: 'groups expression: empty strings in the list are dropped', config: cm({ groups: { expression: 'claims.groups' } }), claims: { sub: 'a', groups: ['', 'dev', ''] }, want: { user: 'a', groups: ['dev'] } },
  { name: 'groups expression returning null means none', config: cm({ groups: { expression: 'claims.groups' } }), claims: { sub: 'a', groups: null }, want: { user: 'a', groups: [] } },
  { name: 'groups expression returning an int', config: cm({ groups: { expression: 'claims.n' } }), claims: { sub: 'a', n: 1 }, want: { refused: /string or a list of strings/ } },
  { name: 'groups expression returning a list of ints', config: cm({ groups: { expression: 'claims.ns' } }), claims: { sub: 'a', ns: [1, 2] }, want: { refused: /string or a list of strings/ } },
  { name: 'groups expression splitting a claim', config: cm({ groups: { expression: "claims.roles.split(',')" } }), claims: { sub: 'a', roles: 'dev,ops' }, want: { user: 'a', groups: ['dev', 'ops'] } },
  { name: 'groups expression on a missing claim fails', config: cm({ groups: { expression: 'claims.groups' } }), claims: { sub: 'a' }, want: { refused: /resulted in error/ } },
  { name: 'groups expression guarded by has()', config: cm({ groups: { expression: 'has(claims.groups) ? claims.groups : []' } }), claims: { sub: 'a' }, want: { user: 'a', groups: [] } },
  // uid
  { name: 'uid claim', config: cm({ uid: { claim: 'oid' } }), claims: { sub: 'a', oid: 'u-1' }, want: { user: 'a', uid: 'u-1' } },
  { name: 'uid claim missing refuses the token', config: cm({ uid: { claim: 'oid' } }), claims: { sub: 'a' }, want: { refused: /uid claim oid not present/ } },
  { name: 'uid claim null means no uid (Go unmarshals null into "")', config: cm({ uid: { claim: 'oid' } }), claims: { sub: 'a', oid: null }, want: { user: 'a' } },
  { name: 'groups claim null means no groups (Go unmarshals null into a nil slice)', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a', groups: null }, want: { user: 'a', groups: [] } },
  { name: 'groups claim holding null is refused', config: cm({ groups: { claim: 'groups', prefix: '' } }), claims: { sub: 'a', groups: ['dev', null] }, want: { refused: /neither a string nor an array of strings/ } },
  { name: 'uid claim not a string', config: cm({ uid: { claim: 'oid' } }), claims: { sub: 'a', oid: 7 }, want: { refused: /not a string/ } },
  { name: 'uid expression', config: cm({ uid: { expression: "'id-' + claims.sub" } }), claims: { sub: 'a' }, want: { user: 'a', uid: 'id-a' } },
  { name: 'uid expression returning "" means no uid', config: cm({ uid: { expression: "''" } }), claims: { sub: 'a' }, want: { user: 'a' } },
  { name: 'uid expression returning a bool', config: cm({ uid: { expression: 'true' } }), claims: { sub: 'a' }, want: { refused: /uid claim expression must return a string/ } },
  // extra
  { name: 'extra from a string', config: cm({ extra: [{ key: 'example.com/tenant', valueExpression: 'claims.tenant' }] }), claims: { sub: 'a', tenant: 't1' }, want: { user: 'a', extra: { 'example.com/tenant': ['t1'] } } },
  { name: 'extra from a list', config: cm({ extra: [{ key: 'example.com/scopes', valueExpression: "claims.scp.split(' ')" }] }), claims: { sub: 'a', scp: 'read write' }, want: { user: 'a', extra: { 'example.com/scopes': ['read', 'write'] } } },
  { name: 'extra "" leaves the key out', config: cm({ extra: [{ key: 'example.com/t', valueExpression: 'claims.t' }] }), claims: { sub: 'a', t: '' }, want: { user: 'a' } },
  { name: 'extra [] leaves the key out', config: cm({ extra: [{ key: 'example.com/t', valueExpression: '[]' }] }), claims: { sub: 'a' }, want: { user: 'a' } },
  { name: 'extra null leaves the key out', config: cm({ extra: [{ key: 'example.com/t', valueExpression: 'claims.t' }] }), claims: { sub: 'a', t: null }, want: { user: 'a' } },
  { name: 'extra of a wrong type', config: cm({ extra: [{ key: 'example.com/t', valueExpression: 'claims.t' }] }), claims: { sub: 'a', t: { x: 1 } }, want: { refused: /string or a list of strings/ } },
  { name: 'two extra keys', config: cm({ extra: [{ key: 'example.com/a', valueExpression: "'1'" }, { key: 'example.com/b', valueExpression: "['2', '3']" }] }), claims: { sub: 'a' }, want: { user: 'a', extra: { 'example.com/a': ['1'], 'example.com/b': ['2', '3'] } } },
  // claim validation rules
  { name: 'required claim matches', config: { ...cm({}), claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] }, claims: { sub: 'a', hd: 'example.com' }, want: { user: 'a' } },
  { name: 'required claim differs', config: { ...cm({}), claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] }, claims: { sub: 'a', hd: 'evil.com' }, want: { refused: /required claim hd value does not match/ } },
  { name: 'required claim missing', config: { ...cm({}), claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }] }, claims: { sub: 'a' }, want: { refused: /required claim hd not present/ } },
  { name: 'required claim not a string', config: { ...cm({}), claimValidationRules: [{ claim: 'hd', requiredValue: 'true' }] }, claims: { sub: 'a', hd: true }, want: { refused: /not a string/ } },
  { name: 'required claim with an empty requiredValue needs ""', config: { ...cm({}), claimValidationRules: [{ claim: 'hd' }] }, claims: { sub: 'a', hd: '' }, want: { user: 'a' } },
  { name: 'claim validation expression true', config: { ...cm({}), claimValidationRules: [{ expression: "claims.tenant == 't1'" }] }, claims: { sub: 'a', tenant: 't1' }, want: { user: 'a' } },
  { name: 'claim validation expression false: wrong tenant', config: { ...cm({}), claimValidationRules: [{ expression: "claims.tenant == 't1'", message: 'wrong tenant' }] }, claims: { sub: 'a', tenant: 't2' }, want: { refused: /failed: wrong tenant/ } },
  { name: 'claim validation runtime error refuses', config: { ...cm({}), claimValidationRules: [{ expression: "claims.tenant == 't1'" }] }, claims: { sub: 'a' }, want: { refused: /resulted in error/ } },
  { name: 'second of two claim validation rules false', config: { ...cm({}), claimValidationRules: [{ expression: 'true' }, { expression: 'claims.level > 2', message: 'low' }] }, claims: { sub: 'a', level: 1 }, want: { refused: /failed: low/ } },
  // user validation rules
  { name: 'user validation true', config: { ...cm({}), userValidationRules: [{ expression: "!user.username.startsWith('admin')" }] }, claims: { sub: 'a' }, want: { user: 'a' } },
  { name: 'user validation false', config: { ...cm({}), userValidationRules: [{ expression: "!user.username.startsWith('admin')", message: 'no admins' }] }, claims: { sub: 'admin1' }, want: { refused: /failed: no admins/ } },
  { name: 'user validation over groups', config: { ...cm({ groups: { claim: 'groups', prefix: '' } }), userValidationRules: [{ expression: "user.groups.all(g, g != 'banned')" }] }, claims: { sub: 'a', groups: ['x', 'banned'] }, want: { refused: /failed/ } },
  { name: 'user validation sees uid and extra', config: { ...cm({ uid: { claim: 'oid' }, extra: [{ key: 'example.com/t', valueExpression: 'claims.t' }] }), userValidationRules: [{ expression: "user.uid == 'u1' && user.extra['example.com/t'] == ['t1']" }] }, claims: { sub: 'a', oid: 'u1', t: 't1' }, want: { user: 'a', uid: 'u1', extra: { 'example.com/t': ['t1'] } } },
  { name: 'user validation sees an unset uid as ""', config: { ...cm({}), userValidationRules: [{ expression: "user.uid == '' && size(user.groups) == 0 && size(user.extra) == 0" }] }, claims: { sub: 'a' }, want: { user: 'a' } },
  // kubegate's guards on top
  { name: 'kubegate: system: user from an expression is refused', config: cm({ username: { expression: "'system:' + claims.sub" } }), claims: { sub: 'admin' }, want: { refused: /reserved user name/ } },
  { name: 'kubegate: System: in any case is refused', config: cm({ groups: { expression: "['System:masters']" } }), claims: { sub: 'a' }, want: { refused: /reserved group/ } },
  { name: 'kubegate: a comma in the user', config: cm({}), claims: { sub: 'a,b' }, want: { refused: /comma/ } },
  { name: 'kubegate: a control character in a group', config: cm({ groups: { expression: "['a\\nb']" } }), claims: { sub: 'a' }, want: { refused: /control/ } },
  { name: 'kubegate: duplicate groups are sent once', config: cm({ groups: { expression: "['a', 'b', 'a']" } }), claims: { sub: 'a' }, want: { user: 'a', groups: ['a', 'b'] } },
  // CEL values as the apiserver's unstructured claims
  { name: 'integer claims are CEL ints', config: { ...cm({}), claimValidationRules: [{ expression: 'claims.level + 1 == 3' }] }, claims: { sub: 'a', level: 2 }, want: { user: 'a' } },
  { name: 'fractional claims are doubles', config: { ...cm({}), claimValidationRules: [{ expression: 'claims.score > 1.0' }] }, claims: { sub: 'a', score: 1.5 }, want: { user: 'a' } },
  { name: 'nested object claims are maps', config: cm({ username: { expression: "claims.org.name + '/' + claims.sub" } }), claims: { sub: 'a', org: { name: 'acme' } }, want: { user: 'acme/a' } },
  { name: 'a quadratic expression over a large claim exceeds the cost limit', config: { ...cm({}), claimValidationRules: [{ expression: 'claims.big.all(a, claims.big.exists(b, a == b))' }] }, claims: { sub: 'a', big }, want: { refused: /exceeded .* comprehension iterations/ } },
  { name: 'one pass over a large claim fits the cost limit', config: cm({ groups: { expression: "claims.big.filter(g, g.endsWith('99'))" } }), claims: { sub: 'a', big }, want: { user: 'a', groups: big.filter((g) => g.endsWith('99')) } },
]

describe('authn token table (kube-apiserver JWT authenticator semantics)', () => {
  it('has at least 50 cases', () => assert.ok(CASES.length >= 50, String(CASES.length)))
  for (const c of CASES) {
    it(c.name, () => {
      const loaded = load(file([jwt(c.config ?? cm({}))]))
      const map = createIdentityMapper(loaded.authenticators[0]!, { allowReservedIdentities: false, maxGroups: 256 })
      const want = c.want
      if ('refused' in want) {
        assert.throws(() => map(c.claims, 2_000_000_000), (err: unknown) => {
          assert.ok(isKubegateError(err), 'a KubegateError')
          assert.equal(err.statusCode, 401)
          assert.match(err.detail ?? '', want.refused)
          return true
        })
        return
      }
      const id = map(c.claims, 2_000_000_000)
      assert.equal(id.user, want.user)
      assert.deepEqual(id.groups, want.groups ?? [])
      assert.equal(id.uid, want.uid)
      assert.deepEqual(id.extra, want.extra)
      assert.equal(id.exp, 2_000_000_000)
    })
  }
})

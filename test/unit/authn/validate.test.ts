// Every rule of kube-apiserver's AuthenticationConfiguration validation (validation.go), with its path and the meaning of upstream's message.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { file, ISSUER, jwt, problems } from './helpers.js'
import { getTestPki } from '../../helpers/pki.js'

/** Asserts exactly these problems (each a substring of one printed line, in order). */
function expectProblems (text: string, expected: string[]): void {
  const got = problems(text)
  assert.equal(got.length, expected.length, `expected ${expected.length} problems, got:\n${got.join('\n')}`)
  expected.forEach((e, i) => assert.ok(got[i]?.includes(e), `problem ${i}: ${got[i]} should contain ${e}`))
}

const mappings = (m: Record<string, unknown>): Record<string, unknown> => ({ claimMappings: { username: { claim: 'sub', prefix: '' }, ...m } })

describe('authn validation: the file as a whole', () => {
  it('a minimal file is valid', () => expectProblems(file([jwt()]), []))
  it('zero jwt authenticators are allowed, as upstream', () => expectProblems(file([]), []))
  it('more than 64 authenticators: TooMany on jwt', () => {
    const many = Array.from({ length: 65 }, (_, i) => jwt({ issuer: { url: `${ISSUER}/${i}`, audiences: ['a'] } }))
    expectProblems(file(many), ['jwt: Too many: 65: must have at most 64 items'])
  })
  it('duplicate issuer URLs', () => expectProblems(file([jwt(), jwt()]), [`jwt[1].issuer.url: Duplicate value: "${ISSUER}"`]))
  it('duplicate discovery URLs', () => {
    const d = 'https://discovery.example.com/.well-known/openid-configuration'
    expectProblems(file([
      jwt({ issuer: { url: ISSUER, discoveryURL: d, audiences: ['a'] } }),
      jwt({ issuer: { url: ISSUER + '/2', discoveryURL: d, audiences: ['a'] } }),
    ]), [`jwt[1].issuer.discoveryURL: Duplicate value: "${d}"`])
  })
  it('every problem is reported at once, each with its path', () => {
    const got = problems(file([jwt({ issuer: { url: 'http://x', audiences: [] }, claimMappings: { username: { claim: 'sub' } } })]))
    assert.deepEqual(got.map((l) => l.split(':')[0]), ['jwt[0].issuer.url', 'jwt[0].issuer.audiences', 'jwt[0].claimMappings.username.prefix'])
  })
  it('unknown fields and the rules of the known ones are reported together', () => {
    expectProblems(file([{ ...jwt(), issuer: { url: 'http://x', audiences: ['a'], audience: 'a' } }]), [
      'jwt[0].issuer.audience: Forbidden: unknown field',
      'jwt[0].issuer.url: Invalid value: "http://x": URL scheme must be https',
    ])
  })
  it('anonymous with conditions but not enabled', () => {
    expectProblems(file([jwt()], { anonymous: { enabled: false, conditions: [{ path: '/livez' }] } }), ['anonymous.conditions: Invalid value: ["/livez"]: enabled should be set to true when conditions are defined'])
  })
  it('kubegate: anonymous enabled is refused', () => {
    expectProblems(file([jwt()], { anonymous: { enabled: true } }), ['anonymous.enabled: Forbidden: kubegate forwards only authenticated requests'])
  })
})

describe('authn validation: issuer', () => {
  const issuer = (i: Record<string, unknown>): string => file([jwt({ issuer: { url: ISSUER, audiences: ['a'], ...i } })])
  it('url required', () => expectProblems(issuer({ url: '' }), ['jwt[0].issuer.url: Required value']))
  it('url must parse', () => expectProblems(issuer({ url: 'not a url' }), ['jwt[0].issuer.url: Invalid value: "not a url"']))
  it('url scheme must be https', () => expectProblems(issuer({ url: 'http://issuer.example.com' }), ['URL scheme must be https']))
  it('url without user info', () => expectProblems(issuer({ url: 'https://u:p@issuer.example.com' }), ['URL must not contain a username or password']))
  it('url without query', () => expectProblems(issuer({ url: 'https://issuer.example.com?x=1' }), ['URL must not contain a query']))
  it('url without fragment', () => expectProblems(issuer({ url: 'https://issuer.example.com#f' }), ['URL must not contain a fragment']))
  it('discoveryURL must differ from url (trailing slashes ignored)', () => {
    expectProblems(issuer({ discoveryURL: ISSUER + '/' }), [`jwt[0].issuer.discoveryURL: Invalid value: "${ISSUER}/": discoveryURL must be different from URL`])
  })
  it('discoveryURL is checked as a URL too', () => expectProblems(issuer({ discoveryURL: 'http://d.example.com/x' }), ['jwt[0].issuer.discoveryURL: Invalid value: "http://d.example.com/x": URL scheme must be https']))
  it('audiences required', () => expectProblems(issuer({ audiences: [] }), ['jwt[0].issuer.audiences: Required value: at least one jwt[0].issuer.audiences is required']))
  it('an empty audience', () => expectProblems(issuer({ audiences: ['a', ''], audienceMatchPolicy: 'MatchAny' }), ['jwt[0].issuer.audiences[1]: Required value']))
  it('duplicate audiences', () => expectProblems(issuer({ audiences: ['a', 'a'], audienceMatchPolicy: 'MatchAny' }), ['jwt[0].issuer.audiences[1]: Duplicate value: "a"']))
  it('several audiences need MatchAny', () => expectProblems(issuer({ audiences: ['a', 'b'] }), ['jwt[0].issuer.audienceMatchPolicy: Invalid value: "": audienceMatchPolicy must be MatchAny for multiple audiences']))
  it('several audiences with MatchAny are valid', () => expectProblems(issuer({ audiences: ['a', 'b'], audienceMatchPolicy: 'MatchAny' }), []))
  it('one audience: policy empty or MatchAny', () => {
    expectProblems(issuer({ audienceMatchPolicy: 'MatchAny' }), [])
    expectProblems(issuer({ audienceMatchPolicy: 'MatchAll' }), ['audienceMatchPolicy must be empty or MatchAny for single audience'])
  })
  it('certificateAuthority must hold a certificate; the value is not echoed', () => {
    const got = problems(issuer({ certificateAuthority: 'not pem' }))
    assert.equal(got.length, 1)
    assert.match(got[0] as string, /^jwt\[0\]\.issuer\.certificateAuthority: Invalid value: "<omitted>": data does not contain any valid/)
  })
  it('a PEM certificateAuthority is accepted', async () => expectProblems(issuer({ certificateAuthority: (await getTestPki()).caPem }), []))
  it('egressSelectorType: upstream values only, and kubegate has none', () => {
    expectProblems(issuer({ egressSelectorType: 'cluster' }), ['kubegate has no egress selector'])
    expectProblems(issuer({ egressSelectorType: 'other' }), ['kubegate has no egress selector', 'egress selector must be either controlplane or cluster'])
  })
})

describe('authn validation: claimValidationRules', () => {
  const rules = (r: unknown[]): string => file([jwt({ claimValidationRules: r })])
  it('claim and expression both set', () => expectProblems(rules([{ claim: 'a', expression: 'true' }]), ["jwt[0].claimValidationRules[0]: Invalid value: \"a\": claim and expression can't both be set"]))
  it('neither set', () => expectProblems(rules([{ message: 'x' }]), ['jwt[0].claimValidationRules[0]: Required value: claim or expression is required']))
  it('message with a claim', () => expectProblems(rules([{ claim: 'a', requiredValue: 'b', message: 'm' }]), ['jwt[0].claimValidationRules[0].message: Invalid value: "m": may not be specified when claim is set']))
  it('duplicate claims', () => expectProblems(rules([{ claim: 'a', requiredValue: 'b' }, { claim: 'a', requiredValue: 'c' }]), ['jwt[0].claimValidationRules[1].claim: Duplicate value: "a"']))
  it('requiredValue with an expression', () => expectProblems(rules([{ expression: 'true', requiredValue: 'x' }]), ['jwt[0].claimValidationRules[0].requiredValue: Invalid value: "x": may not be specified when expression is set']))
  it('duplicate expressions', () => expectProblems(rules([{ expression: "claims.a == 'b'" }, { expression: "claims.a == 'b'" }]), ['jwt[0].claimValidationRules[1].expression: Duplicate value']))
  it('an expression that does not compile', () => expectProblems(rules([{ expression: 'claims.a ==' }]), ['jwt[0].claimValidationRules[0].expression: Invalid value: "claims.a ==": compilation failed']))
  it('an expression that is not bool', () => expectProblems(rules([{ expression: 'claims.a' }]), ['must evaluate to bool']))
  it('an undeclared variable', () => expectProblems(rules([{ expression: "user.username == 'x'" }]), ["undeclared reference to 'user'"]))
  it('a claim rule with an empty requiredValue is valid (the claim must be the empty string)', () => expectProblems(rules([{ claim: 'a' }]), []))
})

describe('authn validation: claimMappings', () => {
  it('username: claim or expression required', () => expectProblems(file([jwt({ claimMappings: {} })]), ['jwt[0].claimMappings.username: Required value: claim or expression is required']))
  it('username: both set', () => expectProblems(file([jwt({ claimMappings: { username: { claim: 'sub', expression: 'claims.sub', prefix: '' } } })]), ["jwt[0].claimMappings.username: Invalid value: \"\": claim and expression can't both be set"]))
  it('username: prefix required with a claim', () => expectProblems(file([jwt({ claimMappings: { username: { claim: 'sub' } } })]), ['jwt[0].claimMappings.username.prefix: Required value: prefix is required when claim is set']))
  it('username: an empty prefix disables prefixing and is valid', () => expectProblems(file([jwt(mappings({}))]), []))
  it('username: prefix forbidden with an expression', () => expectProblems(file([jwt({ claimMappings: { username: { expression: 'claims.sub', prefix: 'p:' } } })]), ['jwt[0].claimMappings.username.prefix: Invalid value: "p:": may not be specified when expression is set']))
  it('username: expression must compile', () => expectProblems(file([jwt({ claimMappings: { username: { expression: 'claims.sub +' } } })]), ['jwt[0].claimMappings.username.expression: Invalid value']))
  it('groups: optional, same rules', () => {
    expectProblems(file([jwt(mappings({ groups: { claim: 'g' } }))]), ['jwt[0].claimMappings.groups.prefix: Required value'])
    expectProblems(file([jwt(mappings({ groups: { claim: 'g', expression: 'claims.g', prefix: '' } }))]), ["jwt[0].claimMappings.groups: Invalid value: \"\": claim and expression can't both be set"])
    expectProblems(file([jwt(mappings({ groups: { expression: 'claims.g', prefix: '' } }))]), ['jwt[0].claimMappings.groups.prefix: Invalid value'])
  })
  it('uid: claim and expression both set', () => expectProblems(file([jwt(mappings({ uid: { claim: 'sub', expression: 'claims.sub' } }))]), ["jwt[0].claimMappings.uid: Invalid value: \"\": claim and expression can't both be set"]))
  it('uid: expression must compile', () => expectProblems(file([jwt(mappings({ uid: { expression: 'nope(' } }))]), ['jwt[0].claimMappings.uid.expression: Invalid value']))
  it('extra: key required, domain-prefixed, lower case, not reserved, unique; valueExpression required', () => {
    const extra = (e: unknown[]): string => file([jwt(mappings({ extra: e }))])
    expectProblems(extra([{ key: '', valueExpression: 'claims.a' }]), ['jwt[0].claimMappings.extra[0].key: Required value'])
    expectProblems(extra([{ key: 'foo', valueExpression: 'claims.a' }]), ['jwt[0].claimMappings.extra[0].key: Invalid value: "foo": must be a domain-prefixed path (such as "acme.io/foo")'])
    expectProblems(extra([{ key: 'example.org/Foo', valueExpression: 'claims.a' }]), ['jwt[0].claimMappings.extra[0].key: Invalid value: "example.org/Foo": must be lowercase'])
    expectProblems(extra([{ key: 'Example.org/foo', valueExpression: 'claims.a' }]), ['a lowercase RFC 1123 subdomain', 'must be lowercase'])
    expectProblems(extra([{ key: 'example.org/a b', valueExpression: 'claims.a' }]), ['Invalid path'])
    expectProblems(extra([{ key: 'k8s.io/foo', valueExpression: 'claims.a' }]), ['k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use'])
    expectProblems(extra([{ key: 'authentication.kubernetes.io/foo', valueExpression: 'claims.a' }]), ['reserved for Kubernetes use'])
    expectProblems(extra([{ key: 'example.org/a', valueExpression: 'claims.a' }, { key: 'example.org/a', valueExpression: 'claims.b' }]), ['jwt[0].claimMappings.extra[1].key: Duplicate value: "example.org/a"'])
    expectProblems(extra([{ key: 'example.org/a' }]), ['jwt[0].claimMappings.extra[0].valueExpression: Required value'])
    expectProblems(extra([{ key: 'example.org/a', valueExpression: '[' }]), ['jwt[0].claimMappings.extra[0].valueExpression: Invalid value'])
  })
  it('claims.email in the username expression needs claims.email_verified somewhere', () => {
    expectProblems(file([jwt({ claimMappings: { username: { expression: 'claims.email' } } })]), ['jwt[0].claimMappings.username.expression: Invalid value: "claims.email": claims.email_verified must be used'])
    expectProblems(file([jwt({ claimMappings: { username: { expression: "claims.email_verified ? claims.email : ''" } } })]), [])
    expectProblems(file([jwt({ claimMappings: { username: { expression: 'claims.email' } }, claimValidationRules: [{ expression: 'claims.email_verified == true' }] })]), [])
    expectProblems(file([jwt({ claimMappings: { username: { expression: 'claims.email' }, extra: [{ key: 'example.org/v', valueExpression: 'string(claims.email_verified)' }] } })]), [])
    // has() is a select too, as upstream's hasSelectExp sees it.
    expectProblems(file([jwt({ claimMappings: { username: { expression: "has(claims.email_verified) ? claims.email : ''" } } })]), [])
  })
  it('kubegate: prefixes must be clean header values and not system:', () => {
    expectProblems(file([jwt({ claimMappings: { username: { claim: 'sub', prefix: 'a,b' } } })]), ['jwt[0].claimMappings.username.prefix: Invalid value: "a,b": kubegate: must not contain commas'])
    expectProblems(file([jwt(mappings({ groups: { claim: 'g', prefix: 'system:' } }))]), ['jwt[0].claimMappings.groups.prefix: Invalid value: "system:": kubegate: must not start with "system:"'])
  })
})

describe('authn validation: userValidationRules', () => {
  const rules = (r: unknown[]): string => file([jwt({ userValidationRules: r })])
  it('expression required', () => expectProblems(rules([{ message: 'm' }]), ['jwt[0].userValidationRules[0].expression: Required value']))
  it('duplicate expressions', () => expectProblems(rules([{ expression: 'true' }, { expression: 'true' }]), ['jwt[0].userValidationRules[1].expression: Duplicate value: "true"']))
  it('must be bool', () => expectProblems(rules([{ expression: 'user.username' }]), ['must evaluate to bool']))
  it('claims are not visible to user rules', () => expectProblems(rules([{ expression: "claims.sub == ''" }]), ["undeclared reference to 'claims'"]))
  it('unknown fields of user are compile errors', () => expectProblems(rules([{ expression: "user.name == ''" }]), ["undefined field 'name'"]))
  it('a typical rule compiles', () => expectProblems(rules([{ expression: "!user.username.startsWith('system:')", message: 'no' }, { expression: "user.groups.all(g, !g.startsWith('system:'))" }]), []))
})

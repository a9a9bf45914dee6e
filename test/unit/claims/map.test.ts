import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { createClaimMapper, type ClaimMappingOptions } from '../../../src/claims/map.js'
import { KubegateError, type ErrorCode } from '../../../src/errors.js'

const ISSUER = 'https://issuer.example.com/dex'
const EXP = 2_000_000_000

function mapper (over: Partial<ClaimMappingOptions> = {}): ReturnType<typeof createClaimMapper> {
  return createClaimMapper({
    issuerUrl: ISSUER,
    usernameClaim: 'email',
    groupsClaim: 'groups',
    requiredClaims: {},
    allowReservedIdentities: false,
    maxGroups: 256,
    ...over,
  })
}

function claims (over: Record<string, unknown> = {}): Record<string, unknown> {
  return { iss: ISSUER, sub: 'CgVhbGljZRIFbG9jYWw', email: 'alice@example.com', email_verified: true, groups: ['dev'], iat: EXP - 3600, ...over }
}

function refused (fn: () => unknown, code: ErrorCode = 'KG_ERR_BAD_CLAIMS'): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof KubegateError, `expected KubegateError, got ${String(err)}`)
    assert.equal(err.code, code)
    assert.equal(err.statusCode, 401)
    return true
  })
}

describe('claim mapping: username prefix (kube-apiserver --oidc-username-prefix rules)', () => {
  it('prefix unset and claim sub -> "<issuer>#sub"', () => {
    const id = mapper({ usernameClaim: 'sub' })(claims(), EXP)
    assert.equal(id.user, `${ISSUER}#CgVhbGljZRIFbG9jYWw`)
  })

  it('prefix unset and claim email -> no prefix', () => {
    assert.equal(mapper()(claims(), EXP).user, 'alice@example.com')
  })

  it('prefix unset and another claim (name) -> issuer prefix too', () => {
    assert.equal(mapper({ usernameClaim: 'preferred_username' })(claims({ preferred_username: 'alice' }), EXP).user, `${ISSUER}#alice`)
  })

  it('"-" disables prefixing', () => {
    assert.equal(mapper({ usernameClaim: 'sub', usernamePrefix: '-' })(claims(), EXP).user, 'CgVhbGljZRIFbG9jYWw')
  })

  it('explicit prefix is prepended, also for email', () => {
    assert.equal(mapper({ usernamePrefix: 'oidc:' })(claims(), EXP).user, 'oidc:alice@example.com')
  })

  it('returns the identity fields', () => {
    const id = mapper()(claims(), EXP)
    assert.deepEqual(id, { user: 'alice@example.com', groups: ['dev'], uid: undefined, sub: 'CgVhbGljZRIFbG9jYWw', exp: EXP, iat: EXP - 3600 })
  })
})

describe('claim mapping: email_verified', () => {
  it('false -> 401 KG_ERR_BAD_CLAIMS', () => refused(() => mapper()(claims({ email_verified: false }), EXP)))
  it('absent -> accepted (apiserver parity)', () => {
    const c = claims()
    delete c.email_verified
    assert.equal(mapper()(c, EXP).user, 'alice@example.com')
  })
  it('true -> accepted', () => assert.equal(mapper()(claims({ email_verified: true }), EXP).user, 'alice@example.com'))
  for (const v of ['true', 1, null, 'false', {}]) {
    it(`non-boolean ${JSON.stringify(v)} -> refused`, () => refused(() => mapper()(claims({ email_verified: v }), EXP)))
  }
  it('not checked when the username claim is not email', () => {
    assert.equal(mapper({ usernameClaim: 'sub', usernamePrefix: '-' })(claims({ email_verified: false }), EXP).user, 'CgVhbGljZRIFbG9jYWw')
  })
})

describe('claim mapping: username validity', () => {
  const cases: Array<[string, unknown]> = [
    ['missing', undefined],
    ['empty', ''],
    ['a single space', ' '],
    ['padded left', ' alice@example.com'],
    ['padded right', 'alice@example.com '],
    ['tab padded', 'alice@example.com\t'],
    ['number', 42],
    ['array', ['alice@example.com']],
    ['object', { v: 'alice' }],
    ['null', null],
    ['bool', true],
    ['CR LF injection', 'a@x\r\nImpersonate-Group: system:masters'],
    ['LF', 'a@x\nb'],
    ['CR', 'a@x\rb'],
    ['NUL', 'a@x\u0000b'],
    ['DEL', 'a@x\u007fb'],
    ['C1 control', 'a@x\u0085b'],
    ['comma', 'alice@example.com,system:masters'],
  ]
  for (const [name, value] of cases) {
    it(`email ${name} -> 401 KG_ERR_BAD_CLAIMS, never a 500`, () => {
      const c = claims({ email: value })
      if (value === undefined) delete c.email
      refused(() => mapper()(c, EXP))
    })
  }

  it('non-ASCII user names are fine', () => {
    assert.equal(mapper()(claims({ email: 'müller@example.de' }), EXP).user, 'müller@example.de')
  })
})

describe('claim mapping: reserved identities', () => {
  for (const user of ['system:admin', 'System:Masters', 'SYSTEM:anonymous', 'system:serviceaccount:kube-system:default', 'system:']) {
    it(`user ${user} -> KG_ERR_RESERVED_IDENTITY by default`, () => {
      refused(() => mapper({ usernamePrefix: '-', usernameClaim: 'sub' })(claims({ sub: user }), EXP), 'KG_ERR_RESERVED_IDENTITY')
      refused(() => mapper()(claims({ email: user }), EXP), 'KG_ERR_RESERVED_IDENTITY')
    })
    it(`user ${user} accepted with allowReservedIdentities`, () => {
      assert.equal(mapper({ allowReservedIdentities: true })(claims({ email: user }), EXP).user, user)
    })
    it(`user ${user} with prefix oidc: -> oidc:${user}`, () => {
      assert.equal(mapper({ usernamePrefix: 'oidc:' })(claims({ email: user }), EXP).user, `oidc:${user}`)
    })
  }

  it('user systemadmin / system-admin are not reserved', () => {
    assert.equal(mapper()(claims({ email: 'systemadmin' }), EXP).user, 'systemadmin')
    assert.equal(mapper()(claims({ email: 'system-admin:x' }), EXP).user, 'system-admin:x')
  })

  it('sub "system:admin" under the default issuer prefix is not reserved', () => {
    assert.equal(mapper({ usernameClaim: 'sub' })(claims({ sub: 'system:admin' }), EXP).user, `${ISSUER}#system:admin`)
  })

  for (const group of ['system:masters', 'System:Masters', 'SYSTEM:NODES', 'system:serviceaccounts']) {
    it(`group ${group} -> KG_ERR_RESERVED_IDENTITY by default`, () => {
      refused(() => mapper()(claims({ groups: ['dev', group] }), EXP), 'KG_ERR_RESERVED_IDENTITY')
      refused(() => mapper()(claims({ groups: group }), EXP), 'KG_ERR_RESERVED_IDENTITY')
    })
    it(`group ${group} accepted with allowReservedIdentities; with groups prefix oidc: -> oidc:${group}`, () => {
      assert.deepEqual(mapper({ allowReservedIdentities: true })(claims({ groups: [group] }), EXP).groups, [group])
      assert.deepEqual(mapper({ groupsPrefix: 'oidc:' })(claims({ groups: [group] }), EXP).groups, [`oidc:${group}`])
    })
  }
})

describe('claim mapping: groups', () => {
  it('a string is one group', () => assert.deepEqual(mapper()(claims({ groups: 'team1' }), EXP).groups, ['team1']))
  // As for the user name: a comma is list syntax once a hop merges header lines, so one group line must
  // never be able to read as two. Refused (401), never split and never forwarded.
  for (const groups of ['a,b', ['dev', 'a,b'], ['dev,system:masters'], [','], ['dev', 'ops,']]) {
    it(`a group with a comma (${JSON.stringify(groups)}) -> 401 KG_ERR_BAD_CLAIMS`, () => {
      refused(() => mapper()(claims({ groups }), EXP))
      refused(() => mapper({ groupsPrefix: 'dex:' })(claims({ groups }), EXP))
    })
  }
  it('an array keeps token order', () => assert.deepEqual(mapper()(claims({ groups: ['b', 'a', 'c'] }), EXP).groups, ['b', 'a', 'c']))
  it('missing -> []', () => {
    const c = claims()
    delete c.groups
    assert.deepEqual(mapper()(c, EXP).groups, [])
  })
  it('no groups claim configured -> [] even if the token has groups', () => {
    assert.deepEqual(mapper({ groupsClaim: undefined })(claims(), EXP).groups, [])
  })
  it('empty array -> []', () => assert.deepEqual(mapper()(claims({ groups: [] }), EXP).groups, []))

  const badGroups: Array<[string, unknown]> = [
    ['a number', 42],
    ['nested arrays', [['dev']]],
    ['an object', { dev: true }],
    ['an array with an object', ['dev', { a: 1 }]],
    ['an array with a number', ['dev', 7]],
    ['an array with null', ['dev', null]],
    ['an array with an empty string', ['dev', '']],
    ['a group with LF', ['dev\nImpersonate-User: admin']],
    ['a group with NUL', ['dev\u0000']],
    ['a boolean', true],
  ]
  for (const [name, value] of badGroups) {
    it(`${name} -> refused`, () => refused(() => mapper()(claims({ groups: value }), EXP)))
  }

  it('null -> no groups (the apiserver unmarshals null into an empty list)', () => {
    assert.deepEqual(mapper()(claims({ groups: null }), EXP).groups, [])
  })

  it('257 groups with max 256 -> refused (never truncated)', () => {
    const groups = Array.from({ length: 257 }, (_, i) => `g${i}`)
    refused(() => mapper()(claims({ groups }), EXP))
  })

  it('256 groups accepted, all kept', () => {
    const groups = Array.from({ length: 256 }, (_, i) => `g${i}`)
    assert.deepEqual(mapper()(claims({ groups }), EXP).groups, groups)
  })

  it('maxGroups is configurable', () => {
    refused(() => mapper({ maxGroups: 2 })(claims({ groups: ['a', 'b', 'c'] }), EXP))
    assert.equal(mapper({ maxGroups: 3 })(claims({ groups: ['a', 'b', 'c'] }), EXP).groups.length, 3)
  })

  it('duplicates are sent once, first occurrence order', () => {
    assert.deepEqual(mapper()(claims({ groups: ['dev', 'ops', 'dev', 'ops', 'qa'] }), EXP).groups, ['dev', 'ops', 'qa'])
  })

  it('groups prefix applies to each group', () => {
    assert.deepEqual(mapper({ groupsPrefix: 'dex:' })(claims({ groups: ['a', 'b'] }), EXP).groups, ['dex:a', 'dex:b'])
  })

  it('non-ASCII groups are kept as strings', () => {
    assert.deepEqual(mapper()(claims({ groups: ['グループ', 'Müller'] }), EXP).groups, ['グループ', 'Müller'])
  })

  // A group with surrounding whitespace cannot travel as a header value (HTTP strips OWS, so " dev" would
  // arrive as "dev": a different group). The claim must be refused as bad claims (401), like a padded
  // user name, rather than accepted here and failing later as a 500 in the impersonation final check.
  for (const g of [' dev', 'dev ', '\u00a0dev']) {
    it(`padded group ${JSON.stringify(g)} -> 401 KG_ERR_BAD_CLAIMS`, () => refused(() => mapper()(claims({ groups: [g] }), EXP)))
  }
})

describe('claim mapping: required claims', () => {
  const m = mapper({ requiredClaims: { hd: 'example.com', tier: 'gold' } })
  it('present with the exact string values -> accepted', () => {
    assert.equal(m(claims({ hd: 'example.com', tier: 'gold' }), EXP).user, 'alice@example.com')
  })
  it('missing -> refused', () => refused(() => m(claims({ hd: 'example.com' }), EXP)))
  it('different value -> refused', () => refused(() => m(claims({ hd: 'evil.com', tier: 'gold' }), EXP)))
  it('same value but not a string -> refused', () => refused(() => m(claims({ hd: ['example.com'], tier: 'gold' }), EXP)))
  it('case differs -> refused', () => refused(() => m(claims({ hd: 'Example.com', tier: 'gold' }), EXP)))
})

describe('claim mapping: uid claim', () => {
  it('off when unset', () => assert.equal(mapper()(claims({ uid: 'u-1' }), EXP).uid, undefined))
  it('taken from the configured claim', () => assert.equal(mapper({ uidClaim: 'sub' })(claims(), EXP).uid, 'CgVhbGljZRIFbG9jYWw'))
  // Like a padded group: a padded uid cannot travel faithfully as a header value, so it must be a 401 here
  // rather than a 500 from the impersonation final check.
  for (const v of [undefined, '', 5, 'a\nb', ' u-1', 'u-1 ']) {
    it(`unusable uid ${JSON.stringify(v)} -> refused`, () => {
      const c = claims({ uid: v })
      if (v === undefined) delete c.uid
      refused(() => mapper({ uidClaim: 'uid' })(c, EXP))
    })
  }
})

describe('claim mapping: misc', () => {
  it('sub defaults to "" when absent or not a string; iat only when a number', () => {
    const c = claims({ sub: 5, iat: '1' })
    const id = mapper()(c, EXP)
    assert.equal(id.sub, '')
    assert.equal(id.iat, undefined)
    assert.equal(id.exp, EXP)
  })

  it('errors carry a failure label and a detail but a generic message', () => {
    try {
      mapper()(claims({ email: 'a@x\r\nEvil: 1' }), EXP)
      assert.fail('should throw')
    } catch (err) {
      assert.ok(err instanceof KubegateError)
      assert.equal(err.failure, 'bad_claims')
      assert.equal(err.message, 'Unauthorized')
      assert.ok(!err.message.includes('Evil'))
    }
  })
})

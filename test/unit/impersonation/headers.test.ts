import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Identity } from '../../../src/auth/identity.js'
import { KubegateError } from '../../../src/errors.js'
import { assertImpersonationBlock, buildImpersonationHeaders, escapeExtraKey, toWireValue } from '../../../src/impersonation/headers.js'

function identity (over: Partial<Identity> = {}): Identity {
  return { user: 'alice@example.com', groups: ['dev'], uid: undefined, sub: 's', exp: 2_000_000_000, iat: undefined, ...over }
}

function pairs (flat: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = []
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string])
  return out
}

function isInternal (err: unknown): boolean {
  return err instanceof KubegateError && err.code === 'KG_ERR_INTERNAL' && err.statusCode === 500
}

describe('toWireValue', () => {
  it('leaves ASCII untouched (same string)', () => {
    const s = 'alice@example.com'
    assert.equal(toWireValue(s), s)
  })

  for (const s of ['グループ', 'Müller', 'Ünïcödé-team', '開発チーム', 'emoji-🚀']) {
    it(`re-expresses ${s} as one Latin-1 char per UTF-8 byte`, () => {
      const wire = toWireValue(s)
      assert.deepEqual(Buffer.from(wire, 'latin1'), Buffer.from(s, 'utf8'))
      for (let i = 0; i < wire.length; i++) assert.ok(wire.charCodeAt(i) <= 0xff)
    })
  }
})

describe('buildImpersonationHeaders', () => {
  it('one Impersonate-User and one Impersonate-Group line per group, never comma-joined', () => {
    const h = buildImpersonationHeaders(identity({ groups: ['dev', 'ops', 'qa'] }))
    assert.deepEqual(pairs(h), [
      ['Impersonate-User', 'alice@example.com'],
      ['Impersonate-Group', 'dev'],
      ['Impersonate-Group', 'ops'],
      ['Impersonate-Group', 'qa'],
    ])
  })

  it('a group with a comma -> throws (the claim mapper refuses it first, with 401)', () => {
    assert.throws(() => buildImpersonationHeaders(identity({ groups: ['dev', 'a,b'] })), isInternal)
  })

  it('no groups -> only the user', () => {
    assert.deepEqual(pairs(buildImpersonationHeaders(identity({ groups: [] }))), [['Impersonate-User', 'alice@example.com']])
  })

  it('256 groups -> 256 separate lines', () => {
    const groups = Array.from({ length: 256 }, (_, i) => `g${i}`)
    const h = pairs(buildImpersonationHeaders(identity({ groups })))
    assert.equal(h.filter(([n]) => n === 'Impersonate-Group').length, 256)
    assert.equal(h.filter(([n]) => n === 'Impersonate-User').length, 1)
  })

  it('adds Impersonate-Uid when present', () => {
    const h = pairs(buildImpersonationHeaders(identity({ uid: 'u-123' })))
    assert.deepEqual(h.at(-1), ['Impersonate-Uid', 'u-123'])
  })

  it('preserves the UTF-8 bytes of グループ and Müller', () => {
    const h = pairs(buildImpersonationHeaders(identity({ user: 'Müller', groups: ['グループ'] })))
    assert.deepEqual(Buffer.from(h[0]?.[1] as string, 'latin1'), Buffer.from('Müller', 'utf8'))
    assert.deepEqual(Buffer.from(h[1]?.[1] as string, 'latin1'), Buffer.from('グループ', 'utf8'))
  })

  // Names whose last character's UTF-8 encoding ends in byte 0xA0 ("チーム" = team, "voilà", "Пётр"-like
  // Cyrillic ending in "Р", "†"): in the Latin-1 wire form that byte is U+00A0, which String#trim strips,
  // so the final check must not mistake it for padding. 0xA0 is legal obs-text in a header value.
  for (const name of ['開発チーム', 'voilà', 'ПЕТР', 'dagger†']) {
    it(`accepts a legitimate non-ASCII name ending in UTF-8 byte 0xA0: ${name}`, () => {
      const h = pairs(buildImpersonationHeaders(identity({ user: `u-${name}`, groups: [name] })))
      assert.deepEqual(Buffer.from(h[0]?.[1] as string, 'latin1'), Buffer.from(`u-${name}`, 'utf8'))
      assert.deepEqual(Buffer.from(h[1]?.[1] as string, 'latin1'), Buffer.from(name, 'utf8'))
    })
  }

  it('is frozen', () => {
    const h = buildImpersonationHeaders(identity())
    assert.ok(Object.isFrozen(h))
  })

  const badIdentities: Array<[string, Partial<Identity>]> = [
    ['empty user', { user: '' }],
    ['user with CR LF', { user: 'a\r\nImpersonate-Group: system:masters' }],
    ['user with NUL', { user: 'a\u0000' }],
    ['user with comma', { user: 'a,b' }],
    ['padded user', { user: ' alice' }],
    ['empty group', { groups: [''] }],
    ['group with LF', { groups: ['a\nb'] }],
    ['padded group', { groups: ['dev '] }],
    ['uid with CR', { uid: 'u\r' }],
  ]
  for (const [name, over] of badIdentities) {
    it(`final check: ${name} -> KG_ERR_INTERNAL (500)`, () => {
      assert.throws(() => buildImpersonationHeaders(identity(over)), isInternal)
    })
  }
})

describe('assertImpersonationBlock', () => {
  it('accepts a well-formed block', () => {
    assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-Group', 'g1', 'Impersonate-Group', 'g2', 'Impersonate-Uid', 'u'])
  })
  it('0 users -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-Group', 'g']), isInternal))
  it('empty block -> throws', () => assert.throws(() => assertImpersonationBlock([]), isInternal))
  it('2 users -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-User', 'b']), isInternal))
  it('empty user value -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', '']), isInternal))
  it('missing value -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User']), isInternal))
  it('CR in user -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a\rb']), isInternal))
  it('LF in group -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-Group', 'x\n']), isInternal))
  it('DEL in uid -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-Uid', 'x\u007f']), isInternal))
  it('comma in user -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a,system:masters']), isInternal))
  it('comma in group -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-Group', 'dev,system:masters']), isInternal))
  it('surrounding whitespace -> throws', () => assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a ']), isInternal))
  it('accepts escaped extra lines', () => {
    assertImpersonationBlock(['Impersonate-User', 'a', 'Impersonate-Extra-example.org%2Fteam', 'blue'])
  })
  for (const name of ['Impersonate-Extra-', 'Impersonate-Extra-a/b', 'Impersonate-Extra-a b', 'impersonate-user', 'Authorization', 'X-Remote-User']) {
    it(`unknown header ${name} -> throws`, () => {
      assert.throws(() => assertImpersonationBlock(['Impersonate-User', 'a', name, 'v']), isInternal)
    })
  }
})

describe('extras', () => {
  it('escapes keys as client-go headerKeyEscape does', () => {
    assert.equal(escapeExtraKey('example.org/team'), 'example.org%2Fteam')
    assert.equal(escapeExtraKey('scopes'), 'scopes')
    assert.equal(escapeExtraKey('100%'), '100%25')
    assert.equal(escapeExtraKey('a b:c'), 'a%20b%3Ac')
    assert.equal(escapeExtraKey('é'), '%C3%A9')
    assert.equal(escapeExtraKey("!#$&'*+-.^_`|~"), "!#$&'*+-.^_`|~")
  })
  it('one Impersonate-Extra line per value, UTF-8 values on the wire', () => {
    const h = buildImpersonationHeaders(identity({ extra: { 'example.org/team': ['blue', '開発'], scopes: ['x'] } }))
    const extras = []
    for (let i = 0; i < h.length; i += 2) if ((h[i] as string).startsWith('Impersonate-Extra-')) extras.push([h[i], h[i + 1]])
    assert.deepEqual(extras, [
      ['Impersonate-Extra-example.org%2Fteam', 'blue'],
      ['Impersonate-Extra-example.org%2Fteam', toWireValue('開発')],
      ['Impersonate-Extra-scopes', 'x'],
    ])
  })
  it('an empty or unsafe extra value fails the final check', () => {
    assert.throws(() => buildImpersonationHeaders(identity({ extra: { k: [''] } })), isInternal)
    assert.throws(() => buildImpersonationHeaders(identity({ extra: { k: ['a\r\nb'] } })), isInternal)
  })
})

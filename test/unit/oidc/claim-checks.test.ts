// Unit tests of the per-issuer claim policy: iss exact, aud against audiences, exp/nbf/iat with skew.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { audienceMatches, checkRegisteredClaims } from '../../../src/oidc/claim-checks.js'
import { TokenError, type TokenFailure } from '../../../src/oidc/jwt.js'
import { CLIENT_ID, ISSUER, T0_SEC, validClaims } from './fixtures.js'

function failure (fn: () => unknown, expected: TokenFailure): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected TokenError, got ${String(err)}`)
    assert.equal(err.failure, expected)
    return true
  })
}

describe('checkRegisteredClaims', () => {
  const rules = { issuer: ISSUER, audiences: [CLIENT_ID], clockSkewSec: 60 }
  const now = T0_SEC
  const check = (over: Record<string, unknown>, omit: string[] = []): number => {
    const c = validClaims(now, over)
    for (const k of omit) delete c[k]
    return checkRegisteredClaims(c, rules, now)
  }

  it('valid -> returns exp', () => assert.equal(check({}), now + 3600))

  for (const iss of ['https://evil', `${ISSUER}/`, ISSUER.replace('https:', 'http:'), ISSUER.toUpperCase(), ` ${ISSUER}`, [ISSUER]]) {
    it(`iss ${JSON.stringify(iss)} -> bad_issuer`, () => failure(() => check({ iss }), 'bad_issuer'))
  }
  it('iss missing -> bad_issuer', () => failure(() => check({}, ['iss']), 'bad_issuer'))

  for (const aud of ['other', [], ['other'], 'Kubegate', [CLIENT_ID, 5], { 0: CLIENT_ID }, null]) {
    it(`aud ${JSON.stringify(aud)} -> bad_audience`, () => failure(() => check({ aud }), 'bad_audience'))
  }
  it('aud missing -> bad_audience', () => failure(() => check({}, ['aud']), 'bad_audience'))
  it('aud ["other","kubegate"] -> accepted', () => assert.equal(check({ aud: ['other', CLIENT_ID] }), now + 3600))

  it('exp 61 s ago (skew 60) -> expired', () => failure(() => check({ exp: now - 61 }), 'expired'))
  it('exp 30 s ago -> accepted', () => assert.equal(check({ exp: now - 30 }), now - 30))
  it('exp missing -> missing_exp', () => failure(() => check({}, ['exp']), 'missing_exp'))
  for (const exp of ['9999999999', null, Number.NaN, Infinity, [1]]) {
    it(`exp ${String(exp)} (not a finite number) -> malformed`, () => failure(() => check({ exp }), 'malformed'))
  }

  it('nbf 10 min ahead -> not_yet_valid; 30 s ahead accepted', () => {
    failure(() => check({ nbf: now + 600 }), 'not_yet_valid')
    assert.equal(check({ nbf: now + 30 }), now + 3600)
  })
  it('nbf not a number -> malformed', () => failure(() => check({ nbf: 'soon' }), 'malformed'))

  it('iat in the future beyond the skew -> issued_in_future; within -> accepted', () => {
    failure(() => check({ iat: now + 61 }), 'issued_in_future')
    assert.equal(check({ iat: now + 60 }), now + 3600)
  })
  it('iat absent -> accepted', () => assert.equal(check({}, ['iat']), now + 3600))

  it('skew 0: exp in the past by 1 s -> expired', () => {
    assert.throws(() => checkRegisteredClaims(validClaims(now, { exp: now - 1 }), { ...rules, clockSkewSec: 0 }, now), TokenError)
  })
})

describe('audienceMatches (several audiences, MatchAny)', () => {
  const rules = { audiences: ['kubegate', 'ci'], audienceMatchPolicy: 'MatchAny' as const }
  it('a string aud equal to any configured audience matches', () => {
    assert.equal(audienceMatches('ci', rules), true)
    assert.equal(audienceMatches('kubegate', rules), true)
  })
  it('a list aud matches when it holds at least one configured audience', () => {
    assert.equal(audienceMatches(['other', 'ci'], rules), true)
    assert.equal(audienceMatches(['other', 'third'], rules), false)
  })
  it('no match for other values, empty lists or non-string members', () => {
    for (const aud of ['other', [], ['ci', 5], null, undefined, { 0: 'ci' }, 'CI']) assert.equal(audienceMatches(aud, rules), false, JSON.stringify(aud))
  })
  it('checkRegisteredClaims applies it', () => {
    const r = { issuer: ISSUER, clockSkewSec: 60, ...rules }
    assert.equal(checkRegisteredClaims(validClaims(T0_SEC, { aud: 'ci' }), r, T0_SEC), T0_SEC + 3600)
    failure(() => checkRegisteredClaims(validClaims(T0_SEC, { aud: 'x' }), r, T0_SEC), 'bad_audience')
  })
})

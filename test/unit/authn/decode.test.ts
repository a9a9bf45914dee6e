// Strict decoding of AuthenticationConfiguration files: versions, unknown and duplicate fields, wrong types, JSON and YAML.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeAuthenticationConfiguration } from '../../../src/authn/decode.js'
import { formatFieldError } from '../../../src/authn/field-error.js'
import { file, jwt } from './helpers.js'

function decodeProblems (text: string): string[] {
  return decodeAuthenticationConfiguration(text).errors.map(formatFieldError)
}

describe('authn decode', () => {
  it('v1 and v1beta1 decode to the same model', () => {
    const v1 = decodeAuthenticationConfiguration(file([jwt()])).config
    const beta = decodeAuthenticationConfiguration(file([jwt()]).replace('/v1\n', '/v1beta1\n')).config
    assert.ok(v1 !== undefined && beta !== undefined)
    assert.deepEqual({ ...v1, apiVersion: '' }, { ...beta, apiVersion: '' })
    assert.equal(v1.jwt[0]?.issuer.audiences[0], 'kubegate')
    assert.equal(v1.jwt[0]?.claimMappings.username.prefix, 'oidc:')
    assert.equal(v1.jwt[0]?.claimMappings.groups.prefix, undefined, 'an absent prefix stays distinguishable from ""')
  })
  it('JSON is read as well', () => {
    const json = JSON.stringify({ apiVersion: 'apiserver.config.k8s.io/v1beta1', kind: 'AuthenticationConfiguration', jwt: [jwt()] })
    assert.deepEqual(decodeProblems(json), [])
  })
  it('apiVersion and kind are required and checked', () => {
    assert.match(decodeProblems('kind: AuthenticationConfiguration\n')[0] ?? '', /^apiVersion: Required value/)
    assert.match(decodeProblems('apiVersion: apiserver.config.k8s.io/v1alpha1\nkind: AuthenticationConfiguration\n')[0] ?? '', /^apiVersion: Unsupported value: "apiserver.config.k8s.io\/v1alpha1"/)
    assert.match(decodeProblems('apiVersion: apiserver.config.k8s.io/v1\nkind: AuthorizationConfiguration\n')[0] ?? '', /^kind: Unsupported value: "AuthorizationConfiguration"/)
  })
  it('unknown fields are refused at any depth, each with its path', () => {
    const text = file([{ ...jwt(), issuer: { url: 'https://x', audiences: ['a'], audience: 'b' }, claimMapping: {} }], { extra: 1 })
    assert.deepEqual(decodeProblems(text).sort(), [
      'extra: Forbidden: unknown field',
      'jwt[0].claimMapping: Forbidden: unknown field',
      'jwt[0].issuer.audience: Forbidden: unknown field',
    ])
  })
  it('field names match exactly (no case folding)', () => {
    assert.deepEqual(decodeProblems(file([{ ...jwt(), issuer: { URL: 'https://x', audiences: ['a'] } }])), ['jwt[0].issuer.URL: Forbidden: unknown field'])
  })
  it('duplicate keys are refused', () => {
    const text = 'apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\njwt:\n- issuer:\n    url: https://a\n    url: https://b\n'
    assert.match(decodeProblems(text)[0] ?? '', /Duplicate value.*(unique|Map keys)/i)
  })
  it('wrong types are refused', () => {
    const text = file([{ ...jwt(), issuer: { url: 'https://x', audiences: 'a' }, claimValidationRules: [{ claim: 'a', requiredValue: 1 }] }])
    assert.deepEqual(decodeProblems(text), [
      'jwt[0].issuer.audiences: Invalid value: cannot unmarshal string into a list',
      'jwt[0].claimValidationRules[0].requiredValue: Invalid value: cannot unmarshal number into a string',
    ])
  })
  it('YAML syntax errors are reported with their position', () => {
    assert.match(decodeProblems('apiVersion: [\n')[0] ?? '', /^\(file\): Invalid value: .*line \d+/)
  })
  it('a document that is not a mapping', () => assert.match(decodeProblems('- a\n')[0] ?? '', /must be a mapping/))
  it('null leaves a field unset, as encoding/json does', () => {
    const c = decodeAuthenticationConfiguration(file([{ ...jwt(), claimValidationRules: null }])).config
    assert.deepEqual(c?.jwt[0]?.claimValidationRules, [])
  })
})

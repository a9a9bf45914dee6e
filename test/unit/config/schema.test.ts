import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { flattenSchema, isField, SCHEMA } from '../../../src/config/schema.js'

describe('flattenSchema', () => {
  const fields = flattenSchema()
  const byPath = new Map(fields.map((f) => [f.path, f]))

  it('derives kebab-case flags from paths and KUBEGATE_ env names from flags', () => {
    const f = byPath.get('oidc.issuerUrl')
    assert.equal(f?.flag, 'oidc-issuer-url')
    assert.equal(f?.env, 'KUBEGATE_OIDC_ISSUER_URL')
    assert.equal(byPath.get('cache.maxPendingVerifications')?.flag, 'cache-max-pending-verifications')
  })

  it('explicit flags mirror kube-apiserver names', () => {
    assert.equal(byPath.get('oidc.requiredClaims')?.flag, 'oidc-required-claim')
    assert.equal(byPath.get('oidc.requiredClaims')?.env, 'KUBEGATE_OIDC_REQUIRED_CLAIM')
    assert.equal(byPath.get('oidc.allowReservedIdentities')?.flag, 'allow-reserved-identities')
    assert.equal(byPath.get('upstream.kubeconfig')?.flag, 'kubeconfig')
  })

  it('flags and env names are unique, and every field is documented', () => {
    assert.equal(new Set(fields.map((f) => f.flag)).size, fields.length)
    assert.equal(new Set(fields.map((f) => f.env)).size, fields.length)
    for (const f of fields) {
      assert.ok(f.spec.doc.length > 0, f.path)
      assert.match(f.flag, /^[a-z][a-z0-9-]*$/, f.path)
      assert.match(f.env, /^KUBEGATE_[A-Z0-9_]+$/, f.path)
    }
  })

  it('defaults respect min/max and choices', () => {
    for (const f of fields) {
      const d = f.spec.default
      if (typeof d === 'number') {
        if (f.spec.min !== undefined) assert.ok(d >= f.spec.min, f.path)
        if (f.spec.max !== undefined) assert.ok(d <= f.spec.max, f.path)
      }
      if (typeof d === 'string' && f.spec.choices !== undefined) assert.ok(f.spec.choices.includes(d), f.path)
    }
  })

  it('isField tells fields from sections', () => {
    assert.equal(isField(SCHEMA.oidc), false)
    assert.equal(isField(SCHEMA.oidc.issuerUrl), true)
  })

  it('works on a custom schema', () => {
    const out = flattenSchema({ a: { bCd: { type: 'int', doc: 'x' } } })
    assert.deepEqual(out.map((f) => [f.path, f.flag, f.env]), [['a.bCd', 'a-b-cd', 'KUBEGATE_A_B_CD']])
  })
})

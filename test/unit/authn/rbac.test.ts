// The RBAC kubegate derives for an authentication configuration: users and groups always, uids when mapped, exactly the configured extra keys.
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { impersonationRules, renderImpersonationRbac } from '../../../src/authn/rbac.js'
import { file, ISSUER, jwt, load } from './helpers.js'

describe('authn rbac', () => {
  it('flags-like config: users and groups only', () => {
    assert.deepEqual(impersonationRules(load(file([jwt()]))), [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }])
  })
  it('uid and extra keys of every issuer, sorted, never a wildcard', () => {
    const loaded = load(file([
      jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, uid: { claim: 'sub' }, extra: [{ key: 'example.com/tenant', valueExpression: 'claims.t' }] } }),
      jwt({ issuer: { url: ISSUER + '/ci', audiences: ['ci'] }, claimMappings: { username: { expression: "'ci:' + claims.sub" }, extra: [{ key: 'ci.example.com/pipeline', valueExpression: 'claims.p' }, { key: 'example.com/tenant', valueExpression: "'ci'" }] } }),
    ]))
    assert.deepEqual(impersonationRules(loaded), [
      { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['uids'], verbs: ['impersonate'] },
      { apiGroups: ['authentication.k8s.io'], resources: ['userextras/ci.example.com/pipeline', 'userextras/example.com/tenant'], verbs: ['impersonate'] },
    ])
  })
  it('renders a ClusterRole and its binding to the ServiceAccount', () => {
    const docs = parseAllDocuments(renderImpersonationRbac(load(file([jwt()])), { namespace: 'auth', serviceAccount: 'kg' })).map((d) => d.toJS())
    assert.equal(docs[0].kind, 'ClusterRole')
    assert.equal(docs[1].kind, 'ClusterRoleBinding')
    assert.deepEqual(docs[1].subjects, [{ kind: 'ServiceAccount', name: 'kg', namespace: 'auth' }])
    assert.equal(docs[1].roleRef.name, docs[0].metadata.name)
  })
})

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateManifest } from './k8s-schema.js';

// The validator must actually reject bad objects, or every "validates against the schema" test is hollow.
describe('validateManifest', () => {
  it('accepts a valid object', async () => {
    await validateManifest({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a' } });
  });

  it('rejects wrong types and missing required fields', async () => {
    await assert.rejects(validateManifest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'x' }, rules: [{ verbs: 'get' }] }), /verbs must be array/);
    await assert.rejects(validateManifest({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'x' }, subjects: [] }), /roleRef/);
    await assert.rejects(validateManifest({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { selector: {}, template: { spec: { containers: [{ name: 'a', ports: [{ containerPort: '80' }] }] } } } }), /containerPort must be integer/);
  });

  it('rejects unknown kinds and API versions', async () => {
    await assert.rejects(validateManifest({ apiVersion: 'v1', kind: 'Namepsace', metadata: { name: 'a' } }), /no schema/);
    await assert.rejects(validateManifest({ apiVersion: 'policy/v1beta2', kind: 'PodDisruptionBudget', metadata: { name: 'a' } }), /no schema/);
  });
});

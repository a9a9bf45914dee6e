import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderClassroom } from '../../../src/classroom/render.js';
import type { KubeObject } from '../../../src/classroom/render.js';
import { parseRoster } from '../../../src/classroom/roster.js';
import type { PolicyRule } from '../../../src/classroom/template.js';

/*
 * The rendered bindings run through the apiserver's RBAC decision procedure (rbac/validation: a RoleBinding
 * grants its role's rules in its own namespace only, a ClusterRoleBinding grants them everywhere; `*` matches
 * any group, resource or verb; subresources are separate resources). The built-in roles are reduced to the
 * rules that matter here. The end-to-end version of this check, through kubegate and the apiserver double,
 * lives with the integration tests.
 */
const BUILTIN: Record<string, PolicyRule[]> = {
  admin: [
    { apiGroups: [''], resources: ['pods', 'pods/exec', 'pods/log', 'services', 'configmaps', 'secrets'], verbs: ['get', 'list', 'watch', 'create', 'delete'] },
    { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['get', 'list', 'create'] },
    { apiGroups: [''], resources: ['resourcequotas'], verbs: ['get', 'list', 'watch'] },
  ],
  edit: [{ apiGroups: [''], resources: ['pods', 'services', 'configmaps', 'secrets'], verbs: ['get', 'list', 'watch', 'create', 'delete'] }],
  // `view` deliberately omits Secrets and RBAC objects (the tutorial's pitfall).
  view: [{ apiGroups: [''], resources: ['pods', 'services', 'configmaps'], verbs: ['get', 'list', 'watch'] }],
};

interface Request { user: string, groups?: string[], verb: string, resource: string, namespace?: string, group?: string }

function allowed (objects: readonly KubeObject[], request: Request): boolean {
  const roles = new Map<string, PolicyRule[]>(Object.entries(BUILTIN).map(([name, rules]) => [`ClusterRole//${name}`, rules]));
  for (const o of objects) {
    if (o.kind === 'ClusterRole' || o.kind === 'Role') roles.set(`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.rules as PolicyRule[]);
  }
  const groups = ['system:authenticated', ...(request.groups ?? [])];
  for (const o of objects) {
    if (o.kind !== 'RoleBinding' && o.kind !== 'ClusterRoleBinding') continue;
    if (o.kind === 'RoleBinding' && o.metadata.namespace !== request.namespace) continue;
    const subjects = o.subjects as Array<{ kind: string, name: string }>;
    if (!subjects.some((s) => (s.kind === 'User' && s.name === request.user) || (s.kind === 'Group' && groups.includes(s.name)))) continue;
    const ref = o.roleRef as { kind: string, name: string };
    const rules = roles.get(`${ref.kind}/${ref.kind === 'Role' ? o.metadata.namespace : ''}/${ref.name}`) ?? [];
    const matches = (list: string[] | undefined, value: string): boolean => list !== undefined && (list.includes('*') || list.includes(value));
    if (rules.some((r) => matches(r.apiGroups, request.group ?? '') && matches(r.resources, request.resource) && matches(r.verbs, request.verb))) return true;
  }
  return false;
}

const entries = parseRoster('email,group\nuser01@example.com\nuser02@example.com\nteacher@example.com,instructors\n', 'csv').entries;

describe('rendered RBAC, as the apiserver would decide', () => {
  it('lets a student list pods in their own namespace and not in another student\'s', () => {
    const { objects } = renderClassroom(entries);
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'list', resource: 'pods', namespace: 'user01' }), true);
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'list', resource: 'pods', namespace: 'user02' }), false);
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'list', resource: 'pods' }), false, 'not cluster-wide');
    // The username must be the email exactly as kubegate impersonates it: a prefix mismatch grants nothing.
    assert.equal(allowed(objects, { user: 'oidc:user01@example.com', verb: 'list', resource: 'pods', namespace: 'user01' }), false);
  });

  it('with --cluster-view, lets students read other namespaces but still not their Secrets', () => {
    const { objects } = renderClassroom(entries, { clusterView: true });
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'list', resource: 'pods', namespace: 'user02' }), true);
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'get', resource: 'secrets', namespace: 'user02' }), false);
    assert.equal(allowed(objects, { user: 'user01@example.com', verb: 'delete', resource: 'pods', namespace: 'user02' }), false);
  });

  it('limits the custom role to pods and services (and their exec/log subresources)', () => {
    const { objects } = renderClassroom(entries, { studentRole: 'custom' });
    const user = 'user02@example.com';
    assert.equal(allowed(objects, { user, verb: 'create', resource: 'pods', namespace: 'user02' }), true);
    assert.equal(allowed(objects, { user, verb: 'create', resource: 'pods/exec', namespace: 'user02' }), true);
    assert.equal(allowed(objects, { user, verb: 'get', resource: 'configmaps', namespace: 'user02' }), false);
    assert.equal(allowed(objects, { user, verb: 'list', resource: 'pods', namespace: 'user01' }), false);
  });

  it('lets instructors read everything and change nothing', () => {
    const { objects } = renderClassroom(entries, { groupsPrefix: 'oidc:' });
    assert.equal(allowed(objects, { user: 'teacher@example.com', verb: 'list', resource: 'secrets', namespace: 'user01' }), true);
    assert.equal(allowed(objects, { user: 'teacher@example.com', verb: 'delete', resource: 'pods', namespace: 'user01' }), false);
    assert.equal(allowed(objects, { user: 'someone@example.com', groups: ['oidc:instructors'], verb: 'watch', resource: 'nodes' }), true);
    assert.equal(allowed(objects, { user: 'someone@example.com', groups: ['instructors'], verb: 'watch', resource: 'nodes' }), false);
  });
});

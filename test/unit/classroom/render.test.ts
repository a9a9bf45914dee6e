import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { emailHash } from '../../../src/classroom/names.js';
import {
  CLASS_LABEL, EMAIL_ANNOTATION, GROUP_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, ROLE_LABEL, STUDENT_LABEL, pruneCommands,
  renderClassroom, toYaml,
} from '../../../src/classroom/render.js';
import type { KubeObject } from '../../../src/classroom/render.js';
import { parseRoster } from '../../../src/classroom/roster.js';
import { DEFAULT_TEMPLATE, TUTORIAL_ROLE_RULES, parseTemplate } from '../../../src/classroom/template.js';

const ROSTER = 'email,namespace,group\nuser01@example.com\nA_B@y.org\na.b@x.org,,cs101-a\nteacher@example.com,,instructors\n';
const entries = parseRoster(ROSTER, 'csv').entries;

function find (objects: readonly KubeObject[], kind: string, namespace?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && o.metadata.namespace === namespace);
}

describe('renderClassroom', () => {
  it('renders byte-identical output for the same roster, in any row order', () => {
    const once = toYaml(renderClassroom(entries));
    const twice = toYaml(renderClassroom(entries));
    const shuffled = toYaml(renderClassroom([...entries].reverse()));
    assert.equal(once, twice);
    assert.equal(once, shuffled);
    // Shared template objects must be written out each time, not as YAML anchors and aliases.
    assert.doesNotMatch(once, /[:-] [&*]\w/);
  });

  it('gives each student a namespace, an admin RoleBinding for their email, quota, limits and isolation', () => {
    const plan = renderClassroom(entries);
    assert.deepEqual(plan.students.map((s) => s.namespace), [`a-b-${emailHash('a.b@x.org')}`, `a-b-${emailHash('A_B@y.org')}`, 'user01']);
    const kinds = plan.objects.filter((o) => o.metadata.name === 'user01' || o.metadata.namespace === 'user01').map((o) => o.kind);
    assert.deepEqual(kinds, ['Namespace', 'RoleBinding', 'ResourceQuota', 'LimitRange', 'NetworkPolicy']);
    const [binding] = find(plan.objects, 'RoleBinding', 'user01');
    assert.deepEqual(binding!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' });
    assert.deepEqual(binding!.subjects, [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'user01@example.com' }]);
    const [quota] = find(plan.objects, 'ResourceQuota', 'user01');
    assert.deepEqual(quota!.spec, DEFAULT_TEMPLATE.resourceQuota);
  });

  it('puts every Namespace before the objects that live in it', () => {
    const plan = renderClassroom(entries);
    const seen = new Set<string>();
    for (const object of plan.objects) {
      if (object.kind === 'Namespace') seen.add(object.metadata.name);
      if (object.metadata.namespace !== undefined) assert.ok(seen.has(object.metadata.namespace), `${object.kind} before its Namespace`);
    }
  });

  it('labels every object for pruning, and each student object with its own student label', () => {
    const plan = renderClassroom(entries, { className: 'cs101', clusterView: true });
    for (const object of plan.objects) {
      assert.equal(object.metadata.labels[MANAGED_BY_LABEL], MANAGED_BY_VALUE, `${object.kind}/${object.metadata.name}`);
      assert.equal(object.metadata.labels[CLASS_LABEL], 'cs101');
    }
    const user01 = plan.objects.filter((o) => o.metadata.labels[STUDENT_LABEL] === 'user01');
    assert.deepEqual(user01.map((o) => o.kind), ['Namespace', 'RoleBinding', 'ClusterRoleBinding', 'ResourceQuota', 'LimitRange', 'NetworkPolicy']);
    const ns = find(plan.objects, 'Namespace').find((o) => o.metadata.name === 'user01');
    assert.equal(ns!.metadata.labels[ROLE_LABEL], 'student');
    assert.equal(ns!.metadata.annotations!['kubegate.io/classroom-email'], 'user01@example.com');
  });

  it('prints prune commands that select exactly one student', () => {
    const plan = renderClassroom(entries, { className: 'cs101', clusterView: true });
    const text = pruneCommands(plan, ['USER01@example.com']);
    const selector = 'app.kubernetes.io/managed-by=kubegate-classroom,kubegate.io/classroom=cs101,kubegate.io/classroom-student=user01';
    assert.ok(text.includes(`kubectl delete namespaces,clusterrolebindings -l '${selector}'`), text);
    assert.ok(!text.includes(`classroom-student=a-b`), 'other students are not listed');
    // The selector matches this student's cluster-scoped objects and nobody else's.
    const matches = (o: KubeObject): boolean => selector.split(',').every((term) => {
      const [key, value] = term.split('=');
      return o.metadata.labels[key!] === value;
    });
    const selected = plan.objects.filter((o) => o.metadata.namespace === undefined && matches(o));
    assert.deepEqual(selected.map((o) => `${o.kind}/${o.metadata.name}`), ['Namespace/user01', 'ClusterRoleBinding/kubegate-classroom:view:user01']);
    assert.equal(pruneCommands(plan).split('\n').filter((l) => l.startsWith('kubectl delete')).length, 3);
  });

  it('binds instructors read-only cluster-wide, as users and as the prefixed OIDC group', () => {
    const plan = renderClassroom(entries, { groupsPrefix: 'oidc:', usernamePrefix: 'dex:' });
    assert.deepEqual(plan.instructors, ['teacher@example.com']);
    assert.ok(!plan.students.some((s) => s.email === 'teacher@example.com'), 'instructors get no student namespace');
    const [role] = find(plan.objects, 'ClusterRole');
    assert.deepEqual(role!.rules, [
      { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
      { nonResourceURLs: ['*'], verbs: ['get'] },
    ]);
    const binding = find(plan.objects, 'ClusterRoleBinding').find((o) => o.metadata.name.endsWith(':instructor'));
    assert.deepEqual(binding!.subjects, [
      { kind: 'Group', apiGroup: 'rbac.authorization.k8s.io', name: 'oidc:instructors' },
      { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'dex:teacher@example.com' },
    ]);
    const [student] = find(plan.objects, 'RoleBinding', 'user01');
    assert.equal((student!.subjects as Array<{ name: string }>)[0]!.name, 'dex:user01@example.com');
  });

  it('treats "-" as no prefix, like kube-apiserver', () => {
    const plan = renderClassroom(entries, { usernamePrefix: '-', groupsPrefix: '-' });
    const [student] = find(plan.objects, 'RoleBinding', 'user01');
    assert.equal((student!.subjects as Array<{ name: string }>)[0]!.name, 'user01@example.com');
  });

  it('can leave instructors out entirely', () => {
    const plan = renderClassroom(entries, { instructorGroup: '' });
    assert.equal(find(plan.objects, 'ClusterRole').length, 0);
    assert.ok(plan.students.some((s) => s.email === 'teacher@example.com'), 'then the row is a student like the others');
  });

  it('renders the tutorial Role and binds it when asked for a custom role', () => {
    const plan = renderClassroom(entries, { studentRole: 'custom' });
    const [role] = find(plan.objects, 'Role', 'user01');
    assert.deepEqual(role!.rules, TUTORIAL_ROLE_RULES);
    const [binding] = find(plan.objects, 'RoleBinding', 'user01');
    assert.deepEqual(binding!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role!.metadata.name });
  });

  it('takes quota, limits and role rules from a template, and leaves out what it nulls', () => {
    const { template, problems } = parseTemplate('resourceQuota:\n  hard: { pods: "5" }\nlimitRange: null\nroleRules:\n  - verbs: [get]\n    resources: [pods]\n    apiGroups: [""]\n');
    assert.deepEqual(problems, []);
    const plan = renderClassroom(entries, { template, studentRole: 'custom', networkPolicy: false });
    assert.deepEqual(find(plan.objects, 'ResourceQuota', 'user01')[0]!.spec, { hard: { pods: '5' } });
    assert.equal(find(plan.objects, 'LimitRange', 'user01').length, 0);
    assert.equal(find(plan.objects, 'NetworkPolicy', 'user01').length, 0);
    // Rules come out in canonical key order whatever order the template used.
    assert.match(toYaml(plan), /rules:\n {2}- apiGroups:\n {6}- ""\n {4}resources:\n {6}- pods\n {4}verbs:\n {6}- get\n/);
  });

  it('reports template problems by path', () => {
    const { problems } = parseTemplate('resourceQuota: 3\nextra: 1\nroleRules:\n  - resources: [pods]\n  - verbs: [get]\n    nonResourceURLs: ["/x"]\n');
    assert.deepEqual(problems, [
      'extra: unknown key (expected resourceQuota, limitRange, roleRules)',
      'resourceQuota: must be a map (the object\'s spec) or null',
      'roleRules[0].verbs: required, a list of strings',
      'roleRules[1].nonResourceURLs: not allowed in a namespaced Role',
    ]);
  });

  it('isolates student namespaces from each other but not from the rest of the cluster', () => {
    const plan = renderClassroom(entries);
    const [policy] = find(plan.objects, 'NetworkPolicy', 'user01');
    assert.deepEqual(policy!.spec, {
      podSelector: {},
      policyTypes: ['Ingress'],
      ingress: [
        { from: [{ podSelector: {} }] },
        { from: [{ namespaceSelector: { matchExpressions: [{ key: ROLE_LABEL, operator: 'NotIn', values: ['student'] }] } }] },
      ],
    });
  });

  it('renders a student\'s optional objects only when asked, always in apply order', () => {
    const kindsOf = (plan: ReturnType<typeof renderClassroom>): string[] =>
      plan.objects.filter((o) => o.metadata.labels[STUDENT_LABEL] === 'user01').map((o) => o.kind);
    const everything = renderClassroom(entries, { studentRole: 'custom', clusterView: true });
    assert.deepEqual(kindsOf(everything), ['Namespace', 'Role', 'RoleBinding', 'ClusterRoleBinding', 'ResourceQuota', 'LimitRange', 'NetworkPolicy']);
    const bare = renderClassroom(entries, { template: { resourceQuota: null, limitRange: null, roleRules: [] }, networkPolicy: false });
    assert.deepEqual(kindsOf(bare), ['Namespace', 'RoleBinding']);
  });

  it('marks each of a student\'s objects with their group label, and the bindings with their email', () => {
    const plan = renderClassroom(entries, { clusterView: true, usernamePrefix: 'oidc:' });
    const namespace = plan.students.find((s) => s.email === 'a.b@x.org')!.namespace;
    const owned = plan.objects.filter((o) => o.metadata.labels[STUDENT_LABEL] === namespace);
    assert.equal(owned.length, 6);
    for (const object of owned) assert.equal(object.metadata.labels[GROUP_LABEL], 'cs101-a', object.kind);
    for (const object of owned.filter((o) => o.kind.endsWith('Binding'))) {
      assert.equal(object.metadata.annotations![EMAIL_ANNOTATION], 'a.b@x.org', object.kind);
      assert.deepEqual(object.subjects, [{ kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'oidc:a.b@x.org' }]);
    }
    // Students without a roster group carry no group label at all (not an empty one).
    assert.ok(plan.objects.filter((o) => o.metadata.labels[STUDENT_LABEL] === 'user01').every((o) => !(GROUP_LABEL in o.metadata.labels)));
  });

  it('refuses a class name that is not a label', () => {
    assert.match(renderClassroom(entries, { className: 'CS 101' }).problems[0]!.message, /class name/);
  });

  it('writes multi-document YAML that parses back to the same objects', () => {
    const plan = renderClassroom(entries, { clusterView: true, studentRole: 'custom' });
    const docs = parseAllDocuments(toYaml(plan));
    assert.deepEqual(docs.map((d) => d.toJS() as unknown), plan.objects);
  });
});

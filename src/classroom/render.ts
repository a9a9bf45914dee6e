import { stringify } from 'yaml';
import { assignNamespaces, compare, isDns1123Label, toLabelValue } from './names.js';
import type { NamespaceCollision } from './names.js';
import type { RosterEntry, RosterProblem } from './roster.js';
import { DEFAULT_TEMPLATE } from './template.js';
import type { ClassroomTemplate, PolicyRule } from './template.js';

/** Label that marks every object this renderer writes (the recommended `app.kubernetes.io` label). */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'kubegate-classroom';
/** Which class an object belongs to, so several classes can share a cluster and be pruned separately. */
export const CLASS_LABEL = 'kubegate.io/classroom';
/** Per-student label: its value is the student's namespace, which is unique and a valid label value. */
export const STUDENT_LABEL = 'kubegate.io/classroom-student';
/** `student` on student namespaces: the NetworkPolicy uses it to tell student namespaces from the rest. */
export const ROLE_LABEL = 'kubegate.io/classroom-role';
export const GROUP_LABEL = 'kubegate.io/classroom-group';
/** Emails are not valid label values, so the owner is recorded as an annotation. */
export const EMAIL_ANNOTATION = 'kubegate.io/classroom-email';

const RBAC_GROUP = 'rbac.authorization.k8s.io';
const STUDENT_OBJECT = 'kubegate-classroom-student';

export type StudentRole = 'admin' | 'edit' | 'custom';

/** Options of {@link renderClassroom}; the defaults match a kubegate with no username or groups prefix. */
export interface RenderOptions {
  /** Name of the class (a DNS-1123 label), used in labels and instructor object names. Default `classroom`. */
  readonly className?: string;
  /** `admin`/`edit`: bind that ClusterRole in the namespace; `custom`: a namespaced Role from the template. */
  readonly studentRole?: StudentRole;
  /** Also bind each student to the ClusterRole `view` cluster-wide (read most objects in every namespace). */
  readonly clusterView?: boolean;
  /** Roster group whose members are instructors (also bound as the OIDC group of that name). Empty: none. */
  readonly instructorGroup?: string;
  /** kubegate's `oidc.usernamePrefix`; `-` means none, as in kube-apiserver's flag. */
  readonly usernamePrefix?: string;
  /** kubegate's `oidc.groupsPrefix`; `-` means none. */
  readonly groupsPrefix?: string;
  /** Prepended to derived namespace names (not to names pinned in the roster). */
  readonly namespacePrefix?: string;
  /** Write the NetworkPolicy that keeps student namespaces from reaching each other. Default true. */
  readonly networkPolicy?: boolean;
  readonly template?: ClassroomTemplate;
}

/** One student's place in the rendered class. */
export interface StudentPlan {
  readonly email: string;
  readonly namespace: string;
  readonly group?: string | undefined;
  readonly row: number;
  /** `kubectl` label selector that matches this student's cluster-scoped objects and namespace. */
  readonly selector: string;
}

/** A Kubernetes object as rendered. Key order is the conventional one, and it is part of the output. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string, namespace?: string, labels: Record<string, string>, annotations?: Record<string, string> };
  [field: string]: unknown;
}

export interface ClassroomPlan {
  readonly objects: readonly KubeObject[];
  readonly students: readonly StudentPlan[];
  readonly instructors: readonly string[];
  readonly collisions: readonly NamespaceCollision[];
  /** Problems that prevent rendering (bad pinned namespaces, bad options); nothing should be applied. */
  readonly problems: readonly RosterProblem[];
  /** Selector that matches everything this class owns. */
  readonly classSelector: string;
}

/**
 * Turns roster entries into the objects of a class. Pure and deterministic: objects are ordered by kind and
 * namespace name, never by roster order, so re-rendering an edited roster gives a minimal diff and the same
 * roster always gives byte-identical output. Cluster-scoped objects and each Namespace come before the
 * namespaced objects that need them, which is the order `kubectl apply -f -` creates them in.
 */
export function renderClassroom (entries: readonly RosterEntry[], options: RenderOptions = {}): ClassroomPlan {
  const className = options.className ?? 'classroom';
  const studentRole = options.studentRole ?? 'admin';
  const instructorGroup = options.instructorGroup ?? 'instructors';
  const usernamePrefix = prefix(options.usernamePrefix);
  const groupsPrefix = prefix(options.groupsPrefix);
  const template = options.template ?? DEFAULT_TEMPLATE;
  const problems: RosterProblem[] = [];
  if (!isDns1123Label(className)) problems.push({ row: 0, message: `class name "${className}" must be a DNS-1123 label` });

  const isInstructor = (entry: RosterEntry): boolean => instructorGroup !== '' && entry.group === instructorGroup;
  const studentEntries = entries.filter((e) => !isInstructor(e));
  const instructors = entries.filter(isInstructor).map((e) => e.email).sort(compare);

  const assignment = assignNamespaces(studentEntries, options.namespacePrefix ?? '');
  problems.push(...assignment.problems);
  const classSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${CLASS_LABEL}=${className}`;
  const students: StudentPlan[] = studentEntries.map((entry, i) => ({
    email: entry.email,
    namespace: assignment.namespaces[i]!,
    group: entry.group,
    row: entry.row,
    selector: `${classSelector},${STUDENT_LABEL}=${assignment.namespaces[i]!}`,
  })).sort((a, b) => compare(a.namespace, b.namespace));

  const classLabels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CLASS_LABEL]: className };
  const objects: KubeObject[] = [];

  if (instructorGroup !== '' || instructors.length > 0) {
    const name = `kubegate-classroom:${className}:instructor`;
    const labels = { ...classLabels, [ROLE_LABEL]: 'instructor' };
    // Read-only everywhere, like the tutorial's dex-admin role. This includes Secrets: instructors can read
    // what students store there. Bind `view` instead if that is not wanted (it cannot see Secrets or RBAC).
    objects.push({
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'ClusterRole',
      metadata: { name, labels },
      rules: [
        { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
        { nonResourceURLs: ['*'], verbs: ['get'] },
      ],
    });
    const subjects = [
      ...(instructorGroup === '' ? [] : [{ kind: 'Group', apiGroup: RBAC_GROUP, name: groupsPrefix + instructorGroup }]),
      ...instructors.map((email) => userSubject(usernamePrefix + email)),
    ];
    objects.push({
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'ClusterRoleBinding',
      metadata: { name, labels },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
      subjects,
    });
  }

  for (const student of students) {
    const ns = student.namespace;
    const labels: Record<string, string> = { ...classLabels, [STUDENT_LABEL]: ns };
    if (student.group !== undefined) labels[GROUP_LABEL] = toLabelValue(student.group);
    const annotations = { [EMAIL_ANNOTATION]: student.email };
    const subject = userSubject(usernamePrefix + student.email);
    const meta = (name: string): KubeObject['metadata'] => ({ name, namespace: ns, labels: { ...labels } });

    objects.push({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: ns, labels: { ...labels, [ROLE_LABEL]: 'student' }, annotations },
    });
    if (studentRole === 'custom') {
      objects.push({ apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata: meta(STUDENT_OBJECT), rules: template.roleRules.map(copyRule) });
    }
    objects.push({
      apiVersion: `${RBAC_GROUP}/v1`,
      kind: 'RoleBinding',
      metadata: { ...meta(STUDENT_OBJECT), annotations: { ...annotations } },
      roleRef: studentRole === 'custom'
        ? { apiGroup: RBAC_GROUP, kind: 'Role', name: STUDENT_OBJECT }
        : { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: studentRole },
      subjects: [subject],
    });
    if (options.clusterView === true) {
      // One binding per student (not one shared list) so that removing a student is a label-selected delete.
      objects.push({
        apiVersion: `${RBAC_GROUP}/v1`,
        kind: 'ClusterRoleBinding',
        metadata: { name: `kubegate-classroom:view:${ns}`, labels: { ...labels }, annotations: { ...annotations } },
        roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'view' },
        subjects: [{ ...subject }],
      });
    }
    if (template.resourceQuota !== null) {
      objects.push({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta('kubegate-classroom-quota'), spec: structuredClone(template.resourceQuota) });
    }
    if (template.limitRange !== null) {
      objects.push({ apiVersion: 'v1', kind: 'LimitRange', metadata: meta('kubegate-classroom-limits'), spec: structuredClone(template.limitRange) });
    }
    if (options.networkPolicy !== false) {
      objects.push({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'NetworkPolicy',
        metadata: meta('kubegate-classroom-isolation'),
        spec: {
          podSelector: {},
          policyTypes: ['Ingress'],
          // Same namespace, or any namespace that is not a student's (ingress controllers, monitoring,
          // instructors' tools). `NotIn` also matches namespaces without the label. Students cannot relabel
          // their Namespace: `admin` is namespaced and grants nothing on the Namespace object itself.
          ingress: [
            { from: [{ podSelector: {} }] },
            { from: [{ namespaceSelector: { matchExpressions: [{ key: ROLE_LABEL, operator: 'NotIn', values: ['student'] }] } }] },
          ],
        },
      });
    }
  }
  return { objects, students, instructors, collisions: assignment.collisions, problems, classSelector };
}

/** Multi-document YAML for `kubectl apply -f -`. Same objects in, same bytes out. */
export function toYaml (plan: ClassroomPlan): string {
  const header = [
    '# Rendered by `kubegate classroom render`; apply with `kubectl apply -f -`.',
    `# Class objects: kubectl get namespaces,clusterrolebindings,clusterroles -l ${plan.classSelector}`,
  ].join('\n');
  const docs = plan.objects.map((object) => stringify(object, { aliasDuplicateObjects: false, lineWidth: 0, sortMapEntries: false }));
  return `${header}\n${docs.map((doc) => `---\n${doc}`).join('')}`;
}

/**
 * Commands that remove students: deleting the Namespace removes everything namespaced in it, and the only
 * cluster-scoped object a student has is the optional `view` ClusterRoleBinding, which carries the same label.
 */
export function pruneCommands (plan: ClassroomPlan, emails?: readonly string[]): string {
  const wanted = emails === undefined ? undefined : new Set(emails.map((e) => e.trim().toLowerCase()));
  const lines = [
    `# Everything of this class: ${plan.classSelector}`,
    `#   kubectl delete namespaces,clusterrolebindings,clusterroles -l '${plan.classSelector}'`,
  ];
  for (const student of plan.students) {
    if (wanted !== undefined && !wanted.has(student.email.toLowerCase())) continue;
    lines.push(`# ${student.email} (namespace ${student.namespace}): ${student.selector}`);
    lines.push(`kubectl delete namespaces,clusterrolebindings -l '${student.selector}'`);
  }
  return `${lines.join('\n')}\n`;
}

function userSubject (name: string): { kind: string, apiGroup: string, name: string } {
  return { kind: 'User', apiGroup: RBAC_GROUP, name };
}

function prefix (value: string | undefined): string {
  // kube-apiserver's --oidc-username-prefix=- means "no prefix"; kubegate's config follows it.
  return value === undefined || value === '-' ? '' : value;
}

function copyRule (rule: PolicyRule): PolicyRule {
  // Fixed key order (as kubectl prints rules) whatever order the template used: part of determinism.
  const copy: Partial<PolicyRule> = {};
  if (rule.apiGroups !== undefined) copy.apiGroups = [...rule.apiGroups];
  if (rule.resources !== undefined) copy.resources = [...rule.resources];
  if (rule.resourceNames !== undefined) copy.resourceNames = [...rule.resourceNames];
  return { ...copy, verbs: [...rule.verbs] };
}

// The classroom renderer: a roster and options in, the class's Kubernetes objects (and their YAML, prune commands) out.
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

/** {@link RenderOptions} with their defaults applied, plus what every object of the class shares. */
interface ClassSettings {
  readonly className: string;
  readonly studentRole: StudentRole;
  readonly clusterView: boolean;
  readonly instructorGroup: string;
  readonly usernamePrefix: string;
  readonly groupsPrefix: string;
  readonly namespacePrefix: string;
  readonly networkPolicy: boolean;
  readonly template: ClassroomTemplate;
  /** Labels on every object of the class. */
  readonly classLabels: Readonly<Record<string, string>>;
  readonly classSelector: string;
}

/** What marks a student's objects as theirs: labels, the email annotation and the RBAC subject. */
interface StudentOwnership {
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly subject: RbacSubject;
}

interface RbacSubject { kind: string, apiGroup: string, name: string }

/**
 * Turns roster entries into the objects of a class. Pure and deterministic: objects are ordered by kind and
 * namespace name, never by roster order, so re-rendering an edited roster gives a minimal diff and the same
 * roster always gives byte-identical output. Cluster-scoped objects and each Namespace come before the
 * namespaced objects that need them, which is the order `kubectl apply -f -` creates them in.
 */
export function renderClassroom (entries: readonly RosterEntry[], options: RenderOptions = {}): ClassroomPlan {
  const settings = resolveSettings(options);
  const problems: RosterProblem[] = checkClassName(settings.className);
  const { studentEntries, instructors } = splitInstructors(entries, settings.instructorGroup);
  const assignment = assignNamespaces(studentEntries, settings.namespacePrefix);
  problems.push(...assignment.problems);
  const students = planStudents(studentEntries, assignment.namespaces, settings.classSelector);
  const objects = [
    ...instructorObjects(instructors, settings),
    ...students.flatMap((student) => studentObjects(student, settings)),
  ];
  return { objects, students, instructors, collisions: assignment.collisions, problems, classSelector: settings.classSelector };
}

function resolveSettings (options: RenderOptions): ClassSettings {
  const className = options.className ?? 'classroom';
  return {
    className,
    studentRole: options.studentRole ?? 'admin',
    clusterView: options.clusterView === true,
    instructorGroup: options.instructorGroup ?? 'instructors',
    usernamePrefix: prefix(options.usernamePrefix),
    groupsPrefix: prefix(options.groupsPrefix),
    namespacePrefix: options.namespacePrefix ?? '',
    networkPolicy: options.networkPolicy !== false,
    template: options.template ?? DEFAULT_TEMPLATE,
    classLabels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [CLASS_LABEL]: className },
    classSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE},${CLASS_LABEL}=${className}`,
  };
}

function checkClassName (className: string): RosterProblem[] {
  return isDns1123Label(className) ? [] : [{ row: 0, message: `class name "${className}" must be a DNS-1123 label` }];
}

/** Roster members of the instructor group are instructors (emails, sorted); everyone else is a student. */
function splitInstructors (entries: readonly RosterEntry[], instructorGroup: string): { studentEntries: RosterEntry[], instructors: string[] } {
  const isInstructor = (entry: RosterEntry): boolean => instructorGroup !== '' && entry.group === instructorGroup;
  return {
    studentEntries: entries.filter((e) => !isInstructor(e)),
    instructors: entries.filter(isInstructor).map((e) => e.email).sort(compare),
  };
}

/** Pairs each student with their assigned namespace, ordered by namespace (not roster order). */
function planStudents (studentEntries: readonly RosterEntry[], namespaces: readonly string[], classSelector: string): StudentPlan[] {
  return studentEntries.map((entry, i) => ({
    email: entry.email,
    namespace: namespaces[i]!,
    group: entry.group,
    row: entry.row,
    selector: `${classSelector},${STUDENT_LABEL}=${namespaces[i]!}`,
  })).sort((a, b) => compare(a.namespace, b.namespace));
}

// --- Instructor objects: one ClusterRole and its ClusterRoleBinding ---

function instructorObjects (instructors: readonly string[], s: ClassSettings): KubeObject[] {
  if (s.instructorGroup === '' && instructors.length === 0) return [];
  const name = `kubegate-classroom:${s.className}:instructor`;
  const labels = { ...s.classLabels, [ROLE_LABEL]: 'instructor' };
  const subjects = [
    ...(s.instructorGroup === '' ? [] : [{ kind: 'Group', apiGroup: RBAC_GROUP, name: s.groupsPrefix + s.instructorGroup }]),
    ...instructors.map((email) => userSubject(s.usernamePrefix + email)),
  ];
  return [instructorClusterRole(name, labels), instructorClusterRoleBinding(name, labels, subjects)];
}

function instructorClusterRole (name: string, labels: Record<string, string>): KubeObject {
  // Read-only everywhere, like the tutorial's dex-admin role. This includes Secrets: instructors can read
  // what students store there. Bind `view` instead if that is not wanted (it cannot see Secrets or RBAC).
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: { name, labels },
    rules: [
      { apiGroups: ['*'], resources: ['*'], verbs: ['get', 'list', 'watch'] },
      { nonResourceURLs: ['*'], verbs: ['get'] },
    ],
  };
}

function instructorClusterRoleBinding (name: string, labels: Record<string, string>, subjects: RbacSubject[]): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name },
    subjects,
  };
}

// --- Student objects: the Namespace first, then what lives in it, each optional one as the options say ---

function studentObjects (student: StudentPlan, s: ClassSettings): KubeObject[] {
  const owner = studentOwnership(student, s);
  const objects = [studentNamespace(owner)];
  if (s.studentRole === 'custom') objects.push(studentRole(owner, s.template));
  objects.push(studentRoleBinding(owner, s.studentRole));
  if (s.clusterView) objects.push(studentViewBinding(owner));
  if (s.template.resourceQuota !== null) objects.push(studentResourceQuota(owner, s.template.resourceQuota));
  if (s.template.limitRange !== null) objects.push(studentLimitRange(owner, s.template.limitRange));
  if (s.networkPolicy) objects.push(studentIsolationPolicy(owner));
  return objects;
}

function studentOwnership (student: StudentPlan, s: ClassSettings): StudentOwnership {
  const labels: Record<string, string> = { ...s.classLabels, [STUDENT_LABEL]: student.namespace };
  if (student.group !== undefined) labels[GROUP_LABEL] = toLabelValue(student.group);
  return {
    namespace: student.namespace,
    labels,
    annotations: { [EMAIL_ANNOTATION]: student.email },
    subject: userSubject(s.usernamePrefix + student.email),
  };
}

/** Metadata of an object in the student's namespace, with its own copy of the student's labels. */
function namespacedMeta (owner: StudentOwnership, name: string): KubeObject['metadata'] {
  return { name, namespace: owner.namespace, labels: { ...owner.labels } };
}

function studentNamespace (owner: StudentOwnership): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: owner.namespace, labels: { ...owner.labels, [ROLE_LABEL]: 'student' }, annotations: { ...owner.annotations } },
  };
}

function studentRole (owner: StudentOwnership, template: ClassroomTemplate): KubeObject {
  return { apiVersion: `${RBAC_GROUP}/v1`, kind: 'Role', metadata: namespacedMeta(owner, STUDENT_OBJECT), rules: template.roleRules.map(copyRule) };
}

/** Binds the student to the template's Role (`custom`) or to the ClusterRole of that name, in their namespace. */
function studentRoleBinding (owner: StudentOwnership, role: StudentRole): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'RoleBinding',
    metadata: { ...namespacedMeta(owner, STUDENT_OBJECT), annotations: { ...owner.annotations } },
    roleRef: role === 'custom'
      ? { apiGroup: RBAC_GROUP, kind: 'Role', name: STUDENT_OBJECT }
      : { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
    subjects: [{ ...owner.subject }],
  };
}

function studentViewBinding (owner: StudentOwnership): KubeObject {
  // One binding per student (not one shared list) so that removing a student is a label-selected delete.
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name: `kubegate-classroom:view:${owner.namespace}`, labels: { ...owner.labels }, annotations: { ...owner.annotations } },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'view' },
    subjects: [{ ...owner.subject }],
  };
}

function studentResourceQuota (owner: StudentOwnership, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'ResourceQuota', metadata: namespacedMeta(owner, 'kubegate-classroom-quota'), spec: structuredClone(spec) };
}

function studentLimitRange (owner: StudentOwnership, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: 'v1', kind: 'LimitRange', metadata: namespacedMeta(owner, 'kubegate-classroom-limits'), spec: structuredClone(spec) };
}

function studentIsolationPolicy (owner: StudentOwnership): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: namespacedMeta(owner, 'kubegate-classroom-isolation'),
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
  };
}

// --- Output ---

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

function userSubject (name: string): RbacSubject {
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

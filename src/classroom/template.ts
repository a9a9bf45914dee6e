// The classroom template (roles, quotas, limits) read from YAML and checked, with the default template.
import { parse } from 'yaml';

/** A PolicyRule as rbac.authorization.k8s.io/v1 defines it. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}

/**
 * What every student namespace gets besides its RoleBinding. `resourceQuota` and `limitRange` are the `spec`
 * of those objects (null: leave the object out); `roleRules` are the rules of the namespaced Role used with
 * `--student-role custom`.
 */
export interface ClassroomTemplate {
  readonly resourceQuota: Record<string, unknown> | null;
  readonly limitRange: Record<string, unknown> | null;
  readonly roleRules: readonly PolicyRule[];
}

/**
 * The tutorial's student Role: work with pods and services in one's own namespace and nothing else. The
 * subresources are listed because RBAC grants them separately: without `pods/exec` `kubectl exec` is
 * Forbidden even for someone who may create pods, and `pods/log` is what `kubectl logs` reads.
 */
export const TUTORIAL_ROLE_RULES: readonly PolicyRule[] = [
  { apiGroups: [''], resources: ['pods', 'services'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'], verbs: ['get', 'create'] },
];

/**
 * Defaults sized for a lab where a student runs a few small pods. NodePorts and LoadBalancers are set to zero:
 * they would expose a student's service outside the NetworkPolicy, on every node or on a paid cloud address.
 */
export const DEFAULT_TEMPLATE: ClassroomTemplate = {
  resourceQuota: {
    hard: {
      'requests.cpu': '2',
      'requests.memory': '4Gi',
      'limits.cpu': '4',
      'limits.memory': '8Gi',
      'requests.storage': '10Gi',
      pods: '20',
      services: '10',
      persistentvolumeclaims: '5',
      'services.nodeports': '0',
      'services.loadbalancers': '0',
    },
  },
  // With a quota on requests/limits, a pod that sets none is refused; defaults keep `kubectl run` working.
  limitRange: {
    limits: [{
      type: 'Container',
      default: { cpu: '500m', memory: '512Mi' },
      defaultRequest: { cpu: '100m', memory: '128Mi' },
      max: { cpu: '2', memory: '4Gi' },
    }],
  },
  roleRules: TUTORIAL_ROLE_RULES,
};

const KEYS = ['resourceQuota', 'limitRange', 'roleRules'] as const;

/**
 * Reads a template file. Keys left out keep their defaults; `null` removes the ResourceQuota or LimitRange.
 * Every problem is returned with its key path; the Kubernetes schema itself is checked by `kubectl apply`.
 */
export function parseTemplate (text: string): { template: ClassroomTemplate, problems: string[] } {
  const problems: string[] = [];
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    return { template: DEFAULT_TEMPLATE, problems: [`not valid YAML: ${(error as Error).message.split('\n')[0]}`] };
  }
  if (data === null || data === undefined) return { template: DEFAULT_TEMPLATE, problems };
  if (!isRecord(data)) return { template: DEFAULT_TEMPLATE, problems: ['expected a map with resourceQuota, limitRange, roleRules'] };

  for (const key of Object.keys(data)) {
    if (!(KEYS as readonly string[]).includes(key)) problems.push(`${key}: unknown key (expected ${KEYS.join(', ')})`);
  }
  const spec = (key: 'resourceQuota' | 'limitRange'): Record<string, unknown> | null => {
    if (!(key in data)) return DEFAULT_TEMPLATE[key];
    const value = data[key];
    if (value === null || isRecord(value)) return value;
    problems.push(`${key}: must be a map (the object's spec) or null`);
    return null;
  };
  const resourceQuota = spec('resourceQuota');
  const limitRange = spec('limitRange');
  let roleRules = DEFAULT_TEMPLATE.roleRules;
  if ('roleRules' in data) {
    const rules = data.roleRules;
    if (!Array.isArray(rules)) {
      problems.push('roleRules: must be a list of PolicyRules');
    } else {
      rules.forEach((rule: unknown, index) => {
        if (!isRecord(rule) || !isStringList(rule.verbs) || rule.verbs.length === 0) {
          problems.push(`roleRules[${index}].verbs: required, a list of strings`);
          return;
        }
        for (const field of ['apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) {
          if (field in rule && !isStringList(rule[field])) problems.push(`roleRules[${index}].${field}: must be a list of strings`);
        }
        for (const field of Object.keys(rule)) {
          if (!['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'].includes(field)) problems.push(`roleRules[${index}].${field}: unknown key`);
        }
        // A namespaced Role cannot grant non-resource URLs; the apiserver would reject the object.
        if ('nonResourceURLs' in rule) problems.push(`roleRules[${index}].nonResourceURLs: not allowed in a namespaced Role`);
      });
      roleRules = rules as PolicyRule[];
    }
  }
  return { template: { resourceQuota, limitRange, roleRules }, problems };
}

function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringList (value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

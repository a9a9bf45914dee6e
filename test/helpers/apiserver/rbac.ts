/**
 * A small RBAC evaluator with Kubernetes' matching rules (verbs, apiGroups, resources with
 * `resource/subresource`, resourceNames, nonResourceURLs with a trailing `*`), so tests
 * can describe permissions the way a cluster admin would: as role bindings.
 */
import type { RequestAttributes } from './request-info.js';

export interface Identity {
  user: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** Decide one request. Return true to allow. */
export type Authorizer = (identity: Identity, attrs: RequestAttributes) => boolean;

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  /** `pods`, `pods/log`, `*`, `*​/scale` */
  resources?: string[];
  resourceNames?: string[];
  /** `/version`, `/apis/*` — only for cluster-wide bindings, as in Kubernetes. */
  nonResourceURLs?: string[];
}

export interface Subject {
  kind: 'User' | 'Group';
  name: string;
}

/** A Role+RoleBinding in one: with `namespace` it grants only there, without it cluster-wide. */
export interface RoleBinding {
  namespace?: string;
  subjects: Subject[];
  rules: PolicyRule[];
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(value));
}

function resourceMatches(rule: PolicyRule, resource: string, subresource: string): boolean {
  const combined = subresource ? `${resource}/${subresource}` : resource;
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r === `*/${subresource}`) return true;
  }
  return false;
}

function urlMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

function ruleAllows(rule: PolicyRule, a: RequestAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if (!a.isResourceRequest) return urlMatches(rule, a.path);
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  if (!resourceMatches(rule, a.resource, a.subresource)) return false;
  if (rule.resourceNames !== undefined && rule.resourceNames.length > 0) return rule.resourceNames.includes(a.name);
  return true;
}

function subjectMatches(subjects: Subject[], id: Identity): boolean {
  return subjects.some((s) => (s.kind === 'User' ? s.name === id.user : id.groups.includes(s.name)));
}

/** An authorizer that allows what any of `bindings` allows (RBAC is purely additive). */
export function createRbac(bindings: readonly RoleBinding[]): Authorizer {
  return (identity, attrs) => {
    for (const b of bindings) {
      if (!subjectMatches(b.subjects, identity)) continue;
      if (b.namespace !== undefined) {
        // Namespaced bindings never grant cluster-scoped or non-resource access.
        if (!attrs.isResourceRequest || attrs.namespace !== b.namespace) continue;
        if (b.rules.some((r) => r.nonResourceURLs === undefined && ruleAllows(r, attrs))) return true;
      } else if (b.rules.some((r) => ruleAllows(r, attrs))) {
        return true;
      }
    }
    return false;
  };
}

/** Allowed when any authorizer allows. */
export function anyOf(...authorizers: Authorizer[]): Authorizer {
  return (id, attrs) => authorizers.some((a) => a(id, attrs));
}

export const SERVICE_ACCOUNT_USER = 'system:serviceaccount:kubegate:kubegate';

/**
 * What every cluster grants: discovery and version (system:discovery,
 * system:public-info-viewer) and self reviews (system:basic-user) to all authenticated users.
 */
export const BUILTIN_BINDINGS: readonly RoleBinding[] = [
  {
    subjects: [{ kind: 'Group', name: 'system:authenticated' }],
    rules: [
      {
        verbs: ['get'],
        nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/version', '/version/', '/openapi', '/openapi/*',
          '/healthz', '/livez', '/readyz'],
      },
      {
        verbs: ['create'],
        apiGroups: ['authentication.k8s.io', 'authorization.k8s.io'],
        resources: ['selfsubjectreviews', 'selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
      },
    ],
  },
];

/** kubegate's service account may impersonate anyone (and do nothing else by itself). */
export const IMPERSONATOR_BINDINGS: readonly RoleBinding[] = [
  {
    subjects: [{ kind: 'User', name: SERVICE_ACCOUNT_USER }],
    rules: [
      { verbs: ['impersonate'], apiGroups: [''], resources: ['users', 'groups', 'serviceaccounts'] },
      // uids and userextras/<key>; RBAC has no `resource/*` wildcard, hence `*`.
      { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['*'] },
    ],
  },
];

const USER01_VERBS = ['get', 'list', 'watch', 'create', 'delete', 'patch', 'update'];

/** The tutorial's Role: user01@example.com manages pods and services in namespace user01, nothing else. */
export const TUTORIAL_BINDINGS: readonly RoleBinding[] = [
  {
    namespace: 'user01',
    subjects: [{ kind: 'User', name: 'user01@example.com' }],
    rules: [
      { verbs: USER01_VERBS, apiGroups: [''], resources: ['pods', 'services', 'pods/log'] },
      { verbs: ['get', 'create'], apiGroups: [''], resources: ['pods/exec', 'pods/attach', 'pods/portforward'] },
    ],
  },
];

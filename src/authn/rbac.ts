// Derives the RBAC kubegate's ServiceAccount needs for an authentication configuration: impersonate users and groups, uids when a uid is mapped, and exactly the configured extra keys.
import { stringify } from 'yaml'
import type { LoadedAuthentication } from './load.js'

export interface RbacOptions {
  readonly name?: string
  readonly serviceAccount?: string
  readonly namespace?: string
}

interface PolicyRule { apiGroups: string[], resources: string[], verbs: string[] }

/** The rules, least privilege: never `userextras/*` (extras feed authorizers and admission). */
export function impersonationRules (auth: LoadedAuthentication): PolicyRule[] {
  const rules: PolicyRule[] = [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }]
  const mapsUid = auth.authenticators.some((a) => a.config.claimMappings.uid.claim !== '' || a.config.claimMappings.uid.expression !== '')
  if (mapsUid) rules.push({ apiGroups: ['authentication.k8s.io'], resources: ['uids'], verbs: ['impersonate'] })
  const keys = [...new Set(auth.authenticators.flatMap((a) => a.config.claimMappings.extra.map((e) => e.key)))].sort()
  if (keys.length > 0) rules.push({ apiGroups: ['authentication.k8s.io'], resources: keys.map((k) => `userextras/${k}`), verbs: ['impersonate'] })
  return rules
}

/** A ClusterRole and its ClusterRoleBinding as a two-document YAML stream, ready for `kubectl apply -f -`. */
export function renderImpersonationRbac (auth: LoadedAuthentication, options: RbacOptions = {}): string {
  const name = options.name ?? 'kubegate-impersonator'
  const role = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRole',
    metadata: { name },
    rules: impersonationRules(auth),
  }
  const binding = {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: options.serviceAccount ?? 'kubegate', namespace: options.namespace ?? 'kubegate' }],
  }
  const header = `# Derived by kubegate from ${auth.source}: impersonation of users and groups` +
    (role.rules.length > 1 ? ', plus the uid and extra keys it maps' : '') + '.\n'
  return header + stringify(role) + '---\n' + stringify(binding)
}

// The cluster RBAC shared by the nested impersonation and passthrough tests: an instructor who may impersonate some things, a CI service account.
import { TUTORIAL_BINDINGS, type RoleBinding } from '../../helpers/apiserver.js'

export const INSTRUCTOR = 'instructor@example.com'
export const STUDENT = 'user01@example.com'
export const DEPLOYER = 'system:serviceaccount:ci:deployer'

export const BINDINGS: readonly RoleBinding[] = [
  ...TUTORIAL_BINDINGS,
  {
    // The instructor may act as user01 (and with the students group, uid u-1, scope view), nobody else.
    subjects: [{ kind: 'Group', name: 'instructors' }],
    rules: [
      { verbs: ['impersonate'], apiGroups: [''], resources: ['users'], resourceNames: [STUDENT] },
      { verbs: ['impersonate'], apiGroups: [''], resources: ['groups'], resourceNames: ['students'] },
      { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['uids'], resourceNames: ['u-1'] },
      { verbs: ['impersonate'], apiGroups: ['authentication.k8s.io'], resources: ['userextras/scopes'], resourceNames: ['view'] },
    ],
  },
  {
    // ... and the CI deployer service account, in its namespace.
    namespace: 'ci',
    subjects: [{ kind: 'Group', name: 'instructors' }],
    rules: [{ verbs: ['impersonate'], apiGroups: [''], resources: ['serviceaccounts'], resourceNames: ['deployer'] }],
  },
  {
    namespace: 'ci',
    subjects: [{ kind: 'User', name: DEPLOYER }],
    rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }],
  },
]

export const NAMESPACES = ['default', 'kube-system', 'user01', 'ci']

// Nested impersonation: authorizes each requested value for the verified identity and computes who the request then runs as, as the apiserver's impersonation filter does.
import type { Identity } from '../auth/identity.js'
import { forbiddenError, type ResourceAttributes } from '../k8s/forbidden.js'
import type { ImpersonationRequest } from './requests.js'

/** Who asks: the user as the apiserver would see it (the subject of every SubjectAccessReview). */
export interface Subject {
  readonly user: string
  readonly groups: readonly string[]
  readonly uid: string | undefined
  readonly extra: Readonly<Record<string, readonly string[]>> | undefined
}

export interface AccessDecision {
  readonly allowed: boolean
  /** The authorizer's reason (SubjectAccessReview status.reason), appended to a Forbidden message. */
  readonly reason: string
}

/** One authorization question; rejects (KubegateError) when it cannot be answered. */
export type Authorize = (subject: Subject, attributes: ResourceAttributes) => Promise<AccessDecision>

const ALL_AUTHENTICATED = 'system:authenticated'
const ALL_UNAUTHENTICATED = 'system:unauthenticated'
const ANONYMOUS = 'system:anonymous'

/**
 * The verified identity as the apiserver sees it once kubegate impersonates it: its authenticators add
 * `system:authenticated` to every authenticated user, and so does the impersonation filter.
 */
export function subjectOf (identity: Identity): Subject {
  const groups = identity.groups.includes(ALL_AUTHENTICATED) ? identity.groups : [...identity.groups, ALL_AUTHENTICATED]
  return { user: identity.user, groups, uid: identity.uid, extra: identity.extra }
}

/**
 * The attributes the apiserver authorizes for one requested value: verb `impersonate`; `users`, `groups`
 * and `serviceaccounts` (namespaced) in the core group; `uids` and `userextras/<key>` in
 * `authentication.k8s.io` (version v1, from the ObjectReference's APIVersion).
 */
export function attributesFor (r: ImpersonationRequest): ResourceAttributes {
  const base = { verb: 'impersonate', group: '', version: '', subresource: '', namespace: '' }
  switch (r.kind) {
    case 'User': return { ...base, resource: 'users', name: r.name }
    case 'ServiceAccount': return { ...base, resource: 'serviceaccounts', namespace: r.namespace, name: r.name }
    case 'Group': return { ...base, resource: 'groups', name: r.name }
    case 'UserExtra': return { ...base, group: 'authentication.k8s.io', version: 'v1', resource: 'userextras', subresource: r.key, name: r.value }
    case 'UID': return { ...base, group: 'authentication.k8s.io', version: 'v1', resource: 'uids', name: r.name }
  }
}

/**
 * The identity the request runs as once every value is allowed (WithImpersonation): the user or service
 * account; the groups asked for, or, when none were, a service account's `system:serviceaccounts` and
 * `system:serviceaccounts:<ns>`; `system:authenticated` added unless it or `system:unauthenticated` is
 * there (`system:unauthenticated` for `system:anonymous`); the uid and extras asked for. Token lifetime
 * fields stay those of the verified token: it is still that token that authorizes the request.
 */
export function impersonatedIdentity (requester: Identity, requests: readonly ImpersonationRequest[], groupsSpecified: boolean): Identity {
  let user = ''
  let groups: string[] = []
  let uid: string | undefined
  const extra: Record<string, string[]> = {}
  for (const r of requests) {
    switch (r.kind) {
      case 'ServiceAccount':
        user = `system:serviceaccount:${r.namespace}:${r.name}`
        if (!groupsSpecified) groups = ['system:serviceaccounts', `system:serviceaccounts:${r.namespace}`]
        break
      case 'User': user = r.name; break
      case 'Group': groups.push(r.name); break
      case 'UserExtra': (extra[r.key] ??= []).push(r.value); break
      case 'UID': uid = r.name; break
    }
  }
  if (user !== ANONYMOUS) {
    if (!groups.includes(ALL_AUTHENTICATED) && !groups.includes(ALL_UNAUTHENTICATED)) groups.push(ALL_AUTHENTICATED)
  } else if (!groups.includes(ALL_UNAUTHENTICATED)) {
    groups.push(ALL_UNAUTHENTICATED)
  }
  return {
    user,
    groups,
    uid,
    extra: Object.keys(extra).length > 0 ? extra : undefined,
    sub: requester.sub,
    exp: requester.exp,
    iat: requester.iat,
  }
}

/**
 * Asks every question at once (a discovery burst then costs one round trip, not one per value) and answers
 * as the apiserver's sequential loop would: the first value in order that is not allowed gives the 403
 * with the apiserver's message; a question that could not be answered fails the request (never forwards).
 * Resolves with the identity to forward as; rejects with a KubegateError.
 */
export async function decideImpersonation (requester: Identity, requests: readonly ImpersonationRequest[], groupsSpecified: boolean,
  authorize: Authorize): Promise<Identity> {
  const subject = subjectOf(requester)
  const attributes = requests.map(attributesFor)
  const outcomes = await Promise.allSettled(attributes.map(async (a) => await authorize(subject, a)))
  for (let i = 0; i < outcomes.length; i++) {
    const o = outcomes[i] as PromiseSettledResult<AccessDecision>
    if (o.status === 'rejected') throw o.reason
    if (!o.value.allowed) throw forbiddenError(subject.user, attributes[i] as ResourceAttributes, o.value.reason, 'impersonation_denied')
  }
  return impersonatedIdentity(requester, requests, groupsSpecified)
}

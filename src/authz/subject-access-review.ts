// Asks the apiserver one authorization question with a SubjectAccessReview (authorization.k8s.io/v1) and reads its answer.
import { KubegateError } from '../errors.js'
import type { AccessDecision, Subject } from '../impersonation/decide.js'
import type { ResourceAttributes } from '../k8s/forbidden.js'
import type { ApiClient } from '../k8s/api-client.js'

export const SUBJECT_ACCESS_REVIEWS_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews'

/** The request object: the subject as given (never anything the client sent), the attributes, nothing else. */
export function subjectAccessReview (subject: Subject, a: ResourceAttributes): Record<string, unknown> {
  const resourceAttributes: Record<string, string> = { verb: a.verb, group: a.group, resource: a.resource }
  if (a.namespace !== '') resourceAttributes.namespace = a.namespace
  if (a.version !== '') resourceAttributes.version = a.version
  if (a.subresource !== '') resourceAttributes.subresource = a.subresource
  if (a.name !== '') resourceAttributes.name = a.name
  const spec: Record<string, unknown> = { resourceAttributes, user: subject.user, groups: subject.groups }
  if (subject.uid !== undefined) spec.uid = subject.uid
  if (subject.extra !== undefined) spec.extra = subject.extra
  return { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec }
}

/**
 * The decision in a SubjectAccessReview status: allowed only on `allowed: true` and not `denied`. An
 * `evaluationError` with no decision is an error, as the apiserver's webhook authorizer treats it, so the
 * request fails closed instead of reading "not allowed" into a question that was not answered.
 */
export function readDecision (answer: unknown): AccessDecision {
  const status = (answer as { status?: unknown } | null)?.status
  if (typeof status !== 'object' || status === null) {
    throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', 'SubjectAccessReview answer without status', { failure: 'review_failed' })
  }
  const s = status as { allowed?: unknown, denied?: unknown, reason?: unknown, evaluationError?: unknown }
  const allowed = s.allowed === true && s.denied !== true
  const reason = typeof s.reason === 'string' ? s.reason : ''
  if (!allowed && s.denied !== true && typeof s.evaluationError === 'string' && s.evaluationError !== '') {
    throw new KubegateError('KG_ERR_REVIEW_UNAVAILABLE', `SubjectAccessReview evaluation error: ${s.evaluationError}`, { failure: 'review_failed' })
  }
  return { allowed, reason }
}

/** One question, one POST. Rejects with a KubegateError (see ApiClient.create). */
export async function reviewAccess (client: ApiClient, subject: Subject, a: ResourceAttributes): Promise<AccessDecision> {
  return readDecision(await client.create(SUBJECT_ACCESS_REVIEWS_PATH, subjectAccessReview(subject, a)))
}

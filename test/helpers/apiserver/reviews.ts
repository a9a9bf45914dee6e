/**
 * SubjectAccessReview (authorization.k8s.io/v1) and TokenReview (authentication.k8s.io/v1) as the
 * apiserver answers them: the caller needs `create` on the review resource (checked by the double's gate
 * like any request); the SAR is decided by the same RBAC table for the subject in the spec, the
 * TokenReview by the service-account tokens the double issued.
 */
import type { Authorizer, Identity } from './rbac.js';
import type { RequestAttributes } from './request-info.js';
import { API_AUDIENCES, type ServiceAccountTokens } from './sa-tokens.js';

export const REVIEW_RESOURCES = new Set(['authorization.k8s.io/subjectaccessreviews', 'authentication.k8s.io/tokenreviews']);

export function isReviewResource(attrs: RequestAttributes): boolean {
  return attrs.isResourceRequest && attrs.subresource === '' && attrs.name === ''
    && REVIEW_RESOURCES.has(`${attrs.apiGroup}/${attrs.resource}`);
}

interface SarSpec {
  resourceAttributes?: Record<string, string>;
  nonResourceAttributes?: Record<string, string>;
  user?: string;
  groups?: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** 201 with the review and its status, or a 400 message when the spec is not a valid review. */
export function subjectAccessReview(body: unknown, authorize: Authorizer): { code: number; object: unknown } | { code: 400; message: string } {
  const spec = ((body as { spec?: SarSpec } | null)?.spec ?? {}) as SarSpec;
  if ((spec.user ?? '') === '' && (spec.groups ?? []).length === 0) {
    return { code: 400, message: 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified' };
  }
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if ((ra === undefined) === (nra === undefined)) {
    return { code: 400, message: 'SubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes must be specified' };
  }
  const subject: Identity = { user: spec.user ?? '', groups: spec.groups ?? [] };
  if (spec.uid !== undefined) subject.uid = spec.uid;
  if (spec.extra !== undefined) subject.extra = spec.extra;
  const attrs: RequestAttributes = ra
    ? {
      verb: ra.verb ?? '', isResourceRequest: true, path: '', apiPrefix: '', apiGroup: ra.group ?? '', apiVersion: ra.version ?? '',
      namespace: ra.namespace ?? '', resource: ra.resource ?? '', subresource: ra.subresource ?? '', name: ra.name ?? '', parts: [],
    }
    : {
      verb: nra?.verb ?? '', isResourceRequest: false, path: nra?.path ?? '', apiPrefix: '', apiGroup: '', apiVersion: '',
      namespace: '', resource: '', subresource: '', name: '', parts: [],
    };
  const allowed = authorize(subject, attrs);
  return {
    code: 201,
    object: {
      kind: 'SubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', metadata: { creationTimestamp: null }, spec,
      status: allowed ? { allowed: true, reason: 'RBAC: allowed by apiserver double' } : { allowed: false },
    },
  };
}

/** 201 with status.authenticated and the user, or authenticated false with the authenticator's error. */
export function tokenReview(body: unknown, tokens: ServiceAccountTokens): { code: number; object: unknown } {
  const spec = ((body as { spec?: { token?: string; audiences?: string[] } } | null)?.spec ?? {});
  const asked = spec.audiences !== undefined && spec.audiences.length > 0 ? spec.audiences : API_AUDIENCES;
  const r = tokens.check(spec.token ?? '', asked);
  const outSpec: Record<string, unknown> = { token: spec.token ?? '' };
  if (spec.audiences !== undefined) outSpec.audiences = spec.audiences;
  const status = r.ok
    ? {
      authenticated: true,
      user: { username: r.identity.user, uid: r.identity.uid, groups: r.identity.groups, extra: r.identity.extra },
      audiences: r.audiences,
    }
    : { user: {}, error: `[${r.error}]` };
  return {
    code: 201,
    object: { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, spec: outSpec, status },
  };
}

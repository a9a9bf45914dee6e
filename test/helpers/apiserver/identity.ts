/**
 * Authentication and impersonation as kube-apiserver performs them
 * (k8s.io/apiserver/pkg/authentication/request/bearertoken and
 * k8s.io/apiserver/pkg/endpoints/filters/impersonation.go), read from the raw header lines.
 *
 * Why raw lines: the whole point of the double is to see what kubegate actually put on the
 * wire. Node's `req.headers` joins repeated headers with ", " and decodes bytes as Latin-1;
 * Go keeps one value per line and the bytes as sent. So values here are one per line and
 * re-decoded as UTF-8.
 */
import type { Identity, Authorizer } from './rbac.js';
import { SERVICE_ACCOUNT_USER } from './rbac.js';
import type { RequestAttributes } from './request-info.js';
import { forbidden, status } from './status.js';
import type { StatusObject } from './status.js';

/** Node parses header bytes as Latin-1; this recovers the UTF-8 text the client sent. */
export function headerUtf8(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

/** All values of one header name (case-insensitive), one per line, in order, UTF-8 decoded. */
export function headerLines(rawHeaders: readonly string[], name: string): string[] {
  const out: string[] = [];
  const want = name.toLowerCase();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    if ((rawHeaders[i] ?? '').toLowerCase() === want) out.push(headerUtf8(rawHeaders[i + 1] ?? ''));
  }
  return out;
}

export interface AuthResult {
  ok: boolean;
  /** Every bearer token presented, one per Authorization line (for the record; valid or not). */
  tokens: string[];
}

const BEARER = /^bearer +([^ ]+)$/i;

/**
 * Accept exactly one `Authorization: Bearer <token>` line naming an accepted token.
 * The real apiserver reads only the first line; the double is stricter and refuses two,
 * so a proxy that lets a second Authorization line through is caught either way.
 */
export function authenticate(rawHeaders: readonly string[], accepted: ReadonlySet<string>): AuthResult {
  const lines = headerLines(rawHeaders, 'authorization');
  const tokens: string[] = [];
  for (const l of lines) {
    const m = BEARER.exec(l.trim());
    if (m?.[1] !== undefined) tokens.push(m[1]);
  }
  const ok = lines.length === 1 && tokens.length === 1 && accepted.has(tokens[0] ?? '');
  return { ok, tokens };
}

export const SERVICE_ACCOUNT_IDENTITY: Identity = Object.freeze({
  user: SERVICE_ACCOUNT_USER,
  groups: ['system:serviceaccounts', 'system:serviceaccounts:kubegate', 'system:authenticated'],
}) as Identity;

export type ImpersonationResult =
  | { ok: true; identity: Identity; impersonated: boolean }
  | { ok: false; statusCode: number; contentType: string; body: string; reason: string };

export interface ImpersonationOptions {
  /**
   * Refuse what the real apiserver would tolerate but kubegate must never send: more than
   * one Impersonate-User line (Go uses the first), or an empty one (Go treats it as "no
   * impersonation" and runs the request as the service account). Default true.
   */
  strict: boolean;
  authorize: Authorizer;
}

interface ImpersonationRequest {
  kind: 'User' | 'ServiceAccount' | 'Group' | 'UserExtra' | 'UID';
  name: string;
  namespace?: string;
  extraKey?: string;
}

const SA_PREFIX = 'system:serviceaccount:';

/** Go's serviceaccount.SplitUsername: `system:serviceaccount:<ns>:<name>`, both non-empty, no further colon. */
function splitServiceAccount(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SA_PREFIX)) return undefined;
  const rest = user.slice(SA_PREFIX.length).split(':');
  if (rest.length !== 2 || !rest[0] || !rest[1]) return undefined;
  return { namespace: rest[0], name: rest[1] };
}

function goObjectRef(r: ImpersonationRequest): string {
  // fmt %v of a v1.ObjectReference: {Kind Namespace Name UID APIVersion ResourceVersion FieldPath}
  const apiVersion = r.kind === 'UserExtra' || r.kind === 'UID' ? 'authentication.k8s.io/v1' : '';
  return `{${r.kind} ${r.namespace ?? ''} ${r.name}  ${apiVersion}  ${r.extraKey ?? ''}}`;
}

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c] ?? c);
}

/**
 * Resolve the effective identity of a request made by `requestor` (the service account).
 * Mirrors WithImpersonation: each requested field is authorized as verb `impersonate`;
 * groups/uid/extra without a user is an internal error (500, text/plain, as Go's
 * responsewriters.InternalError); the impersonated user gets `system:authenticated` unless
 * it or `system:unauthenticated` was asked for.
 */
export function impersonate(
  requestor: Identity,
  rawHeaders: readonly string[],
  requestUri: string,
  opts: ImpersonationOptions,
): ImpersonationResult {
  const users = headerLines(rawHeaders, 'impersonate-user');
  const groups = headerLines(rawHeaders, 'impersonate-group');
  const uids = headerLines(rawHeaders, 'impersonate-uid');
  const extras: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const n = (rawHeaders[i] ?? '').toLowerCase();
    if (n.startsWith('impersonate-extra-')) {
      let key = n.slice('impersonate-extra-'.length);
      try { key = decodeURIComponent(key); } catch { /* Go keeps malformed keys as-is */ }
      extras.push([key, headerUtf8(rawHeaders[i + 1] ?? '')]);
    }
  }

  if (opts.strict && (users.length > 1 || (users.length === 1 && users[0] === ''))) {
    const body = `${JSON.stringify(status(400, 'BadRequest',
      `apiserver double (strict): expected exactly one non-empty Impersonate-User line, got ${JSON.stringify(users)}`))}\n`;
    return { ok: false, statusCode: 400, contentType: 'application/json', body, reason: 'strict-impersonate-user' };
  }

  const requests: ImpersonationRequest[] = [];
  const user = users[0] ?? '';
  const hasUser = user.length > 0;
  if (hasUser) {
    const sa = splitServiceAccount(user);
    requests.push(sa ? { kind: 'ServiceAccount', name: sa.name, namespace: sa.namespace } : { kind: 'User', name: user });
  }
  for (const g of groups) requests.push({ kind: 'Group', name: g });
  for (const [key, value] of extras) requests.push({ kind: 'UserExtra', name: value, extraKey: key });
  const uid = uids[0] ?? '';
  if (uid.length > 0) requests.push({ kind: 'UID', name: uid });

  if ((groups.length > 0 || extras.length > 0 || uid.length > 0) && !hasUser) {
    const err = `requested [${requests.map(goObjectRef).join(' ')}] without impersonating a user`;
    const body = `${htmlEscape(`Internal Server Error: ${JSON.stringify(requestUri)}: ${err}`)}\n`;
    return { ok: false, statusCode: 500, contentType: 'text/plain; charset=utf-8', body, reason: 'impersonation-without-user' };
  }
  if (requests.length === 0) return { ok: true, identity: requestor, impersonated: false };

  const groupsSpecified = groups.length > 0;
  let username = '';
  let outGroups: string[] = [];
  const extra: Record<string, string[]> = {};
  for (const r of requests) {
    const attrs: RequestAttributes = {
      verb: 'impersonate', isResourceRequest: true, path: '', apiPrefix: '', apiVersion: '',
      apiGroup: r.kind === 'UserExtra' || r.kind === 'UID' ? 'authentication.k8s.io' : '',
      namespace: r.namespace ?? '', name: r.name, subresource: '', resource: '', parts: [],
    };
    switch (r.kind) {
      case 'ServiceAccount':
        attrs.resource = 'serviceaccounts';
        username = `${SA_PREFIX}${r.namespace}:${r.name}`;
        if (!groupsSpecified) outGroups = ['system:serviceaccounts', `system:serviceaccounts:${r.namespace}`];
        break;
      case 'User':
        attrs.resource = 'users';
        username = r.name;
        break;
      case 'Group':
        attrs.resource = 'groups';
        outGroups.push(r.name);
        break;
      case 'UserExtra':
        attrs.resource = 'userextras';
        attrs.subresource = r.extraKey ?? '';
        (extra[r.extraKey ?? ''] ??= []).push(r.name);
        break;
      case 'UID':
        attrs.resource = 'uids';
        break;
    }
    if (!opts.authorize(requestor, attrs)) {
      const st: StatusObject = forbidden(requestor.user, attrs);
      return { ok: false, statusCode: 403, contentType: 'application/json', body: `${JSON.stringify(st)}\n`, reason: 'impersonation-forbidden' };
    }
  }
  if (username !== 'system:anonymous') {
    if (!outGroups.includes('system:authenticated') && !outGroups.includes('system:unauthenticated')) {
      outGroups.push('system:authenticated');
    }
  } else if (!outGroups.includes('system:unauthenticated')) {
    outGroups.push('system:unauthenticated');
  }
  const identity: Identity = { user: username, groups: outGroups };
  if (uid.length > 0) identity.uid = uid;
  if (Object.keys(extra).length > 0) identity.extra = extra;
  return { ok: true, identity, impersonated: true };
}

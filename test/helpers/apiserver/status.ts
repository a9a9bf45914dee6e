/**
 * Kubernetes `Status` bodies byte-compatible with kube-apiserver's.
 *
 * Field order follows Go's struct order (kind, apiVersion, metadata, status, message, reason,
 * details, code) and empty fields are omitted as `omitempty` does, so a test can compare
 * bodies as text. The apiserver's JSON serializer uses json.Encoder, which ends every body
 * with "\n"; so do these.
 */
import type { RequestAttributes } from './request-info.js';

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: Array<{ reason?: string; message?: string; field?: string }>;
}

export interface StatusObject {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export function status(code: number, reason: string, message: string, details?: StatusDetails): StatusObject {
  const s: StatusObject = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details !== undefined) {
    // Re-create to put `details` before `code`, as Go would.
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: cleanDetails(details), code };
  }
  return s;
}

function cleanDetails(d: StatusDetails): StatusDetails {
  const out: StatusDetails = {};
  if (d.name) out.name = d.name;
  if (d.group) out.group = d.group;
  if (d.kind) out.kind = d.kind;
  if (d.causes && d.causes.length > 0) out.causes = d.causes;
  return out;
}

/** JSON text exactly as the apiserver writes it (trailing newline included). */
export function statusText(s: StatusObject): string {
  return `${JSON.stringify(s)}\n`;
}

/** `{"kind":"Status",...,"message":"Unauthorized","reason":"Unauthorized","code":401}` */
export const UNAUTHORIZED = status(401, 'Unauthorized', 'Unauthorized');

/** `pods` or `deployments.apps` — schema.GroupResource.String(). */
export function groupResource(group: string, resource: string): string {
  return group === '' ? resource : `${resource}.${group}`;
}

/**
 * The apiserver's authorization failure (responsewriters.Forbidden + apierrors.NewForbidden):
 *   nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope
 *   pods "p" is forbidden: User "u" cannot create resource "pods/exec" in API group "" in the namespace "n"
 *   forbidden: User "u" cannot get path "/foo"
 */
export function forbidden(user: string, attrs: RequestAttributes, reason = ''): StatusObject {
  let msg: string;
  if (!attrs.isResourceRequest) {
    msg = `User ${goQuote(user)} cannot ${attrs.verb} path ${goQuote(attrs.path)}`;
  } else {
    const res = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    msg = attrs.namespace
      ? `User ${goQuote(user)} cannot ${attrs.verb} resource ${goQuote(res)} in API group ${goQuote(attrs.apiGroup)} in the namespace ${goQuote(attrs.namespace)}`
      : `User ${goQuote(user)} cannot ${attrs.verb} resource ${goQuote(res)} in API group ${goQuote(attrs.apiGroup)} at the cluster scope`;
  }
  if (reason) msg = `${msg}: ${reason}`;
  const resource = attrs.isResourceRequest ? attrs.resource : '';
  const name = attrs.isResourceRequest ? attrs.name : '';
  let message: string;
  if (resource === '') message = `forbidden: ${msg}`;
  else if (name === '') message = `${groupResource(attrs.apiGroup, resource)} is forbidden: ${msg}`;
  else message = `${groupResource(attrs.apiGroup, resource)} ${goQuote(name)} is forbidden: ${msg}`;
  return status(403, 'Forbidden', message, { name, group: attrs.isResourceRequest ? attrs.apiGroup : '', kind: resource });
}

export function notFound(group: string, resource: string, name: string): StatusObject {
  return status(404, 'NotFound', `${groupResource(group, resource)} ${goQuote(name)} not found`, { name, group, kind: resource });
}

/** What the apiserver answers for a path no handler serves. */
export const PATH_NOT_FOUND = status(404, 'NotFound', 'the server could not find the requested resource', {});

export function alreadyExists(group: string, resource: string, name: string): StatusObject {
  return status(409, 'AlreadyExists', `${groupResource(group, resource)} ${goQuote(name)} already exists`, { name, group, kind: resource });
}

export function badRequest(message: string): StatusObject {
  return status(400, 'BadRequest', message);
}

export function methodNotAllowed(): StatusObject {
  return status(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource', {});
}

/**
 * Go's %q for the strings that appear in these messages: JSON escaping is the same for
 * printable text (quotes, backslashes, control characters); non-ASCII printable runes are
 * kept as-is by both.
 */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Success status used by DELETE responses for some resources and by exec on channel 3. */
export function successStatus(details?: StatusDetails): Record<string, unknown> {
  const s: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  if (details) s.details = cleanDetails(details);
  return s;
}

/**
 * Request attributes derived from method + path exactly as kube-apiserver's
 * RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go):
 * the verb RBAC sees (get/list/watch/create/update/patch/delete/deletecollection),
 * API group and version, namespace, resource, name and subresource.
 */

export interface RequestAttributes {
  /** RBAC verb; for non-resource requests the lower-cased HTTP method. */
  verb: string;
  isResourceRequest: boolean;
  /** The decoded URL path (Go's req.URL.Path). */
  path: string;
  apiPrefix: string;
  apiGroup: string;
  apiVersion: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** Path segments from the resource on (`pods/p/log`). */
  parts: string[];
}

const API_PREFIXES = new Set(['api', 'apis']);
const GROUPLESS_PREFIXES = new Set(['api']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function decodePath(rawPath: string): string {
  try {
    return decodeURIComponent(rawPath);
  } catch {
    return rawPath;
  }
}

/** Go's metav1 bool conversion for query parameters: only "0" and "false" (any case) are false. */
export function queryBool(values: string[]): boolean {
  const v = values[0];
  if (v === undefined) return false;
  return !(v === '0' || v.toLowerCase() === 'false');
}

/**
 * @param method HTTP method
 * @param target the raw request target (`/api/v1/namespaces/x/pods?watch=1`)
 */
export function parseRequestInfo(method: string, target: string): RequestAttributes {
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : target.slice(q + 1));
  const path = decodePath(rawPath);
  const info: RequestAttributes = {
    verb: method.toLowerCase(), isResourceRequest: false, path, apiPrefix: '', apiGroup: '', apiVersion: '',
    namespace: '', resource: '', subresource: '', name: '', parts: [],
  };
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  let parts = trimmed === '' ? [] : trimmed.split('/');
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] ?? '')) return info;
  info.apiPrefix = parts[0] ?? '';
  parts = parts.slice(1);
  if (!GROUPLESS_PREFIXES.has(info.apiPrefix)) {
    if (parts.length < 3) return info;
    info.apiGroup = parts[0] ?? '';
    parts = parts.slice(1);
  }
  info.isResourceRequest = true;
  info.apiVersion = parts[0] ?? '';
  parts = parts.slice(1);

  if (SPECIAL_VERBS.has(parts[0] ?? '')) {
    // Deprecated /api/v1/watch/... and /proxy/... forms.
    info.verb = parts[0] ?? '';
    parts = parts.slice(1);
  } else {
    switch (method) {
      case 'POST': info.verb = 'create'; break;
      case 'GET': case 'HEAD': info.verb = 'get'; break;
      case 'PUT': info.verb = 'update'; break;
      case 'PATCH': info.verb = 'patch'; break;
      case 'DELETE': info.verb = 'delete'; break;
      default: info.verb = '';
    }
  }

  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1] ?? '';
      // /namespaces/{ns}/status and /finalize are subresources of the namespace itself.
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] ?? '')) parts = parts.slice(2);
    }
  }
  info.parts = parts;
  if (parts.length >= 3 && info.verb !== 'proxy') info.subresource = parts[2] ?? '';
  if (parts.length >= 2) info.name = parts[1] ?? '';
  if (parts.length >= 1) info.resource = parts[0] ?? '';

  if (info.name === '' && info.verb === 'get') {
    info.verb = queryBool(query.getAll('watch')) ? 'watch' : 'list';
    // fieldSelector=metadata.name=x narrows a list/watch to one name (RBAC resourceNames apply).
    const fs = query.get('fieldSelector');
    if (fs) {
      for (const term of fs.split(',')) {
        const m = /^metadata\.name(?:==?)(.+)$/.exec(term);
        if (m?.[1] !== undefined && !m[1].includes('/') && m[1] !== '.' && m[1] !== '..') info.name = m[1];
      }
    }
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}

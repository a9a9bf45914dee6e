/**
 * Kubernetes request attributes derived from method and path the way the apiserver's RequestInfoFactory
 * does (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), for access logs, audit events and metrics.
 * Informational only: authorisation is the apiserver's job, never kubegate's.
 */
export interface RequestInfo {
  readonly isResourceRequest: boolean
  readonly verb: string
  readonly apiGroup: string
  readonly apiVersion: string
  readonly namespace: string
  readonly resource: string
  readonly subresource: string
  readonly name: string
  readonly path: string
}

const API_PREFIXES = new Set(['api', 'apis'])
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize'])

function decode (s: string): string {
  if (!s.includes('%') && !s.includes('+')) return s
  try {
    return decodeURIComponent(s.replaceAll('+', ' '))
  } catch {
    return s
  }
}

/** The first value of a query parameter as Go's url.Query() sees it (keys and values percent-decoded). */
function queryValue (query: string, name: string): string | undefined {
  if (query === '') return undefined
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    if (decode(eq === -1 ? part : part.slice(0, eq)) !== name) continue
    return eq === -1 ? '' : decode(part.slice(eq + 1))
  }
  return undefined
}

/**
 * A boolean query parameter as the apiserver decodes it (runtime.Convert_Slice_string_To_bool): absent is
 * false; "0" and "false" in any case are false; anything else, even "", "f" or "yes", is true.
 */
function queryBool (query: string, name: string): boolean {
  const v = queryValue(query, name)
  if (v === undefined) return false
  return !(v === '0' || v.toLowerCase() === 'false')
}

function nonResource (method: string, path: string): RequestInfo {
  return { isResourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', path }
}

/** The path without its leading and trailing slashes (strings.Trim(path, "/")). */
function trimSlashes (path: string): string {
  let a = 0
  let b = path.length
  while (a < b && path.charCodeAt(a) === 47) a++
  while (b > a && path.charCodeAt(b - 1) === 47) b--
  return a === 0 && b === path.length ? path : path.slice(a, b)
}

/** The verb of a request that names no `watch`/`proxy` prefix, from its method (before list/watch/deletecollection). */
function methodVerb (method: string): string {
  switch (method) {
    case 'POST': return 'create'
    case 'GET': case 'HEAD': return 'get'
    case 'PUT': return 'update'
    case 'PATCH': return 'patch'
    case 'DELETE': return 'delete'
    default: return ''
  }
}

export function requestInfo (method: string, url: string): RequestInfo {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const trimmed = trimSlashes(path)
  const parts = trimmed === '' ? [] : trimmed.split('/')
  // `i` walks the parts as the apiserver's slicing does (currentParts = currentParts[1:]).
  let i = 0
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] as string)) return nonResource(method, path)
  let apiGroup = ''
  const prefix = parts[i++]
  if (prefix === 'apis') {
    // The prefix is consumed: this asks for group, version and at least one more part.
    if (parts.length - i < 3) return nonResource(method, path)
    apiGroup = parts[i++] as string
  }
  const apiVersion = parts[i++] as string
  let verb: string
  if (parts[i] === 'watch' || parts[i] === 'proxy') {
    if (parts.length - i < 2) return nonResource(method, path)
    verb = parts[i++] as string
  } else {
    verb = methodVerb(method)
  }
  let namespace = ''
  if (parts[i] === 'namespaces' && parts.length - i > 1) {
    namespace = parts[i + 1] as string
    // /namespaces/{ns}/{resource}/... addresses a namespaced resource; /namespaces/{ns}/status|finalize is a
    // subresource of the namespace object itself (whose namespace is then its own name, as in the apiserver).
    if (parts.length - i > 2 && !NAMESPACE_SUBRESOURCES.has(parts[i + 2] as string)) i += 2
  }
  const resource = parts[i] ?? ''
  const name = parts[i + 1] ?? ''
  const subresource = parts.length - i >= 3 && verb !== 'proxy' ? parts[i + 2] as string : ''
  if (name === '' && verb === 'get') verb = queryBool(q === -1 ? '' : url.slice(q + 1), 'watch') ? 'watch' : 'list'
  if (name === '' && verb === 'delete') verb = 'deletecollection'
  return { isResourceRequest: true, verb, apiGroup, apiVersion, namespace, resource, subresource, name, path }
}

/**
 * Requests that stay open: watches, `logs -f`, and streaming subresources. They get no response-header
 * timeout and count against the per-user stream cap. Cheap string tests first: this runs on every request.
 */
export function isLongRunning (url: string): boolean {
  const q = url.indexOf('?')
  if (q !== -1) {
    const query = url.slice(q + 1)
    // Cheap substring tests first (this runs on every request), then the apiserver's own bool semantics.
    const encoded = query.includes('%')
    if ((encoded || query.includes('watch')) && queryBool(query, 'watch')) return true
    if ((encoded || query.includes('follow')) && queryBool(query, 'follow')) return true
  }
  const path = q === -1 ? url : url.slice(0, q)
  if (path.includes('/watch/')) return true
  return path.endsWith('/exec') || path.endsWith('/attach') || path.endsWith('/portforward') || path.includes('/proxy')
}

/** Query parameters that would carry a credential in the URL (and thus into logs); such requests are refused. */
export function hasCredentialsInQuery (url: string): boolean {
  const q = url.indexOf('?')
  if (q === -1) return false
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=')
    const k = decode(eq === -1 ? part : part.slice(0, eq)).toLowerCase()
    if (k === 'access_token' || k === 'id_token') return true
  }
  return false
}

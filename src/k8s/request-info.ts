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

export function requestInfo (method: string, url: string): RequestInfo {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q + 1)
  const nonResource = (): RequestInfo => ({
    isResourceRequest: false, verb: method.toLowerCase(), apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', path,
  })
  const trimmed = path.replace(/^\/+|\/+$/g, '')
  let parts = trimmed === '' ? [] : trimmed.split('/')
  if (parts.length < 3 || !API_PREFIXES.has(parts[0] as string)) return nonResource()
  let apiGroup = ''
  const prefix = parts[0]
  parts = parts.slice(1)
  if (prefix === 'apis') {
    // The prefix is consumed: this asks for group, version and at least one more part.
    if (parts.length < 3) return nonResource()
    apiGroup = parts[0] as string
    parts = parts.slice(1)
  }
  const apiVersion = parts[0] as string
  parts = parts.slice(1)
  let verb: string
  if (parts[0] === 'watch' || parts[0] === 'proxy') {
    if (parts.length < 2) return nonResource()
    verb = parts[0]
    parts = parts.slice(1)
  } else {
    switch (method) {
      case 'POST': verb = 'create'; break
      case 'GET': case 'HEAD': verb = 'get'; break
      case 'PUT': verb = 'update'; break
      case 'PATCH': verb = 'patch'; break
      case 'DELETE': verb = 'delete'; break
      default: verb = ''
    }
  }
  let namespace = ''
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1] as string
    // /namespaces/{ns}/{resource}/... addresses a namespaced resource; /namespaces/{ns}/status|finalize is a
    // subresource of the namespace object itself (whose namespace is then its own name, as in the apiserver).
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2] as string)) parts = parts.slice(2)
  }
  const resource = parts[0] ?? ''
  const name = parts[1] ?? ''
  const subresource = parts.length >= 3 && verb !== 'proxy' ? parts[2] as string : ''
  if (name === '' && verb === 'get') verb = queryBool(query, 'watch') ? 'watch' : 'list'
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

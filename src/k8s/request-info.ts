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

function queryFlag (query: string, name: string): boolean {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    const k = eq === -1 ? part : part.slice(0, eq)
    if (k !== name) continue
    const v = eq === -1 ? '' : part.slice(eq + 1)
    return v === 'true' || v === '1'
  }
  return false
}

function hasQueryParam (query: string, name: string): boolean {
  for (const part of query.split('&')) {
    const eq = part.indexOf('=')
    if ((eq === -1 ? part : part.slice(0, eq)) === name) return true
  }
  return false
}

export function requestInfo (method: string, url: string): RequestInfo {
  const q = url.indexOf('?')
  const path = q === -1 ? url : url.slice(0, q)
  const query = q === -1 ? '' : url.slice(q + 1)
  const nonResource = (verb: string): RequestInfo => ({
    isResourceRequest: false, verb, apiGroup: '', apiVersion: '', namespace: '', resource: '', subresource: '', name: '', path,
  })
  const lowerMethod = method.toLowerCase()
  const parts = path.split('/').filter((p) => p !== '')
  if (parts.length < 2 || !API_PREFIXES.has(parts[0] as string)) return nonResource(lowerMethod)
  let i = 1
  let apiGroup = ''
  if (parts[0] === 'apis') {
    if (parts.length < 3) return nonResource(lowerMethod)
    apiGroup = parts[i++] as string
  }
  const apiVersion = parts[i++] as string
  let rest = parts.slice(i)
  let verb: string
  switch (method) {
    case 'POST': verb = 'create'; break
    case 'GET': case 'HEAD': verb = 'get'; break
    case 'PUT': verb = 'update'; break
    case 'PATCH': verb = 'patch'; break
    case 'DELETE': verb = 'delete'; break
    default: verb = lowerMethod
  }
  let watchPrefix = false
  if (rest[0] === 'watch') {
    watchPrefix = true
    verb = 'watch'
    rest = rest.slice(1)
  }
  let namespace = ''
  if (rest[0] === 'namespaces') {
    if (rest.length > 1) {
      namespace = rest[1] as string
      // /namespaces/{name} addresses the namespace object itself.
      if (rest.length > 2) rest = rest.slice(2)
      else rest = ['namespaces', rest[1] as string]
    }
  }
  const resource = rest[0] ?? ''
  const name = rest[1] ?? ''
  const subresource = rest[2] ?? ''
  if (resource === 'namespaces' && namespace !== '' && name === namespace) namespace = ''
  if (verb === 'get' || verb === 'delete') {
    if (name === '') {
      if (verb === 'get') verb = queryFlag(query, 'watch') ? 'watch' : 'list'
      else verb = 'deletecollection'
    } else if (verb === 'get' && !watchPrefix && queryFlag(query, 'watch') && hasQueryParam(query, 'fieldSelector')) {
      verb = 'get'
    }
  }
  if (watchPrefix && name !== '') verb = 'watch'
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
    if (query.includes('watch=') && (queryFlag(query, 'watch'))) return true
    if (query.includes('follow=') && queryFlag(query, 'follow')) return true
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
    const k = (eq === -1 ? part : part.slice(0, eq)).toLowerCase()
    if (k === 'access_token' || k === 'id_token' || k === 'access%5ftoken' || k === 'id%5ftoken') return true
  }
  return false
}

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { hasCredentialsInQuery, isLongRunning, requestInfo, type RequestInfo } from '../../../src/k8s/request-info.js'

type Expect = Partial<RequestInfo>

function check (method: string, url: string, expected: Expect): void {
  const info = requestInfo(method, url)
  for (const [k, v] of Object.entries(expected)) {
    assert.equal(info[k as keyof RequestInfo], v, `${method} ${url}: ${k} = ${String(info[k as keyof RequestInfo])}, expected ${String(v)}`)
  }
}

describe('requestInfo: verbs', () => {
  const cases: Array<[string, string, Expect]> = [
    ['GET', '/api/v1/namespaces/default/pods/web-0', { verb: 'get', namespace: 'default', resource: 'pods', name: 'web-0', apiGroup: '', apiVersion: 'v1', isResourceRequest: true }],
    ['HEAD', '/api/v1/namespaces/default/pods/web-0', { verb: 'get' }],
    ['GET', '/api/v1/namespaces/default/pods', { verb: 'list', namespace: 'default', resource: 'pods', name: '' }],
    ['GET', '/api/v1/namespaces/default/pods?limit=500', { verb: 'list' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=true', { verb: 'watch', resource: 'pods' }],
    ['GET', '/api/v1/namespaces/default/pods?resourceVersion=1&watch=1', { verb: 'watch' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=false', { verb: 'list' }],
    ['GET', '/api/v1/namespaces/default/pods?watch=0', { verb: 'list' }],
    ['GET', '/api/v1/watch/namespaces/default/pods', { verb: 'watch', namespace: 'default', resource: 'pods', name: '' }],
    ['GET', '/api/v1/watch/namespaces/default/pods/web-0', { verb: 'watch', name: 'web-0' }],
    ['GET', '/api/v1/watch/pods', { verb: 'watch', resource: 'pods', namespace: '' }],
    ['POST', '/api/v1/namespaces/default/pods', { verb: 'create', resource: 'pods', namespace: 'default' }],
    ['PUT', '/api/v1/namespaces/default/pods/web-0', { verb: 'update', name: 'web-0' }],
    ['PATCH', '/apis/apps/v1/namespaces/prod/deployments/api', { verb: 'patch', apiGroup: 'apps', apiVersion: 'v1', namespace: 'prod', resource: 'deployments', name: 'api' }],
    ['DELETE', '/api/v1/namespaces/default/pods/web-0', { verb: 'delete', name: 'web-0' }],
    ['DELETE', '/api/v1/namespaces/default/pods', { verb: 'deletecollection', resource: 'pods' }],
  ]
  for (const [m, u, e] of cases) it(`${m} ${u}`, () => check(m, u, e))

  // The apiserver decodes `watch` with Convert_Slice_string_To_bool: only "false"/"0" (any case) are false,
  // any other value, including empty, is true (k8s.io/apimachinery/pkg/runtime/conversion.go).
  for (const q of ['watch=True', 'watch=TRUE', 'watch=t', 'watch=f', 'watch=F', 'watch=yes', 'watch=', 'watch', 'watch=no']) {
    it(`GET ...pods?${q} is a watch, as the apiserver reads it`, () => check('GET', `/api/v1/pods?${q}`, { verb: 'watch' }))
  }
  for (const q of ['watch=FALSE', 'watch=False', 'watch=0', 'limit=1']) {
    it(`GET ...pods?${q} is a list`, () => check('GET', `/api/v1/pods?${q}`, { verb: 'list' }))
  }
  it('percent-encoded query keys and values are decoded like url.Query()', () => {
    check('GET', '/api/v1/pods?%77atch=%74rue', { verb: 'watch' })
  })
})

describe('requestInfo: scope, groups, subresources', () => {
  const cases: Array<[string, string, Expect]> = [
    ['GET', '/api/v1/nodes', { verb: 'list', resource: 'nodes', namespace: '', apiGroup: '' }],
    ['GET', '/api/v1/nodes/node-1', { verb: 'get', resource: 'nodes', name: 'node-1', namespace: '' }],
    ['GET', '/api/v1/pods', { verb: 'list', resource: 'pods', namespace: '' }],
    ['GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles/admin', { apiGroup: 'rbac.authorization.k8s.io', apiVersion: 'v1', resource: 'clusterroles', name: 'admin', namespace: '' }],
    ['GET', '/apis/apps/v1/namespaces/ns1/deployments', { apiGroup: 'apps', verb: 'list', namespace: 'ns1', resource: 'deployments' }],
    ['GET', '/api/v1/namespaces/default/pods/web-0/log', { verb: 'get', resource: 'pods', name: 'web-0', subresource: 'log', namespace: 'default' }],
    ['POST', '/api/v1/namespaces/default/pods/web-0/exec?command=sh&stdin=true', { verb: 'create', resource: 'pods', subresource: 'exec', name: 'web-0' }],
    ['GET', '/api/v1/namespaces/default/pods/web-0/exec?command=sh', { verb: 'get', subresource: 'exec' }],
    ['PUT', '/apis/apps/v1/namespaces/ns/deployments/d/scale', { verb: 'update', subresource: 'scale', resource: 'deployments' }],
    ['GET', '/api/v1/namespaces', { verb: 'list', resource: 'namespaces', namespace: '' }],
    ['POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { verb: 'create', apiGroup: 'authentication.k8s.io', resource: 'selfsubjectreviews' }],
  ]
  for (const [m, u, e] of cases) it(`${m} ${u}`, () => check(m, u, e))

  // requestinfo.go: /namespaces/{ns}/status and /namespaces/{ns}/finalize are subresources of the namespace
  // (namespaceSubresources), not resources named "status"/"finalize" inside it.
  it('PUT /api/v1/namespaces/ns1/finalize is the namespace finalize subresource', () => {
    check('PUT', '/api/v1/namespaces/ns1/finalize', { verb: 'update', resource: 'namespaces', name: 'ns1', subresource: 'finalize', namespace: 'ns1' })
  })
  it('PUT /api/v1/namespaces/ns1/status is the namespace status subresource', () => {
    check('PUT', '/api/v1/namespaces/ns1/status', { verb: 'update', resource: 'namespaces', name: 'ns1', subresource: 'status', namespace: 'ns1' })
  })
  it('GET /api/v1/namespaces/ns1 is the namespace object', () => {
    // the apiserver's RequestInfo for a namespace object carries its own name as namespace
    check('GET', '/api/v1/namespaces/ns1', { verb: 'get', resource: 'namespaces', name: 'ns1', namespace: 'ns1' })
  })
})

describe('requestInfo: non-resource requests', () => {
  const cases: Array<[string, string, Expect]> = [
    ['GET', '/version', { isResourceRequest: false, verb: 'get', path: '/version' }],
    ['GET', '/version?timeout=5s', { isResourceRequest: false, verb: 'get', path: '/version' }],
    ['GET', '/healthz', { isResourceRequest: false, verb: 'get' }],
    ['GET', '/openapi/v3', { isResourceRequest: false, verb: 'get' }],
    ['GET', '/api', { isResourceRequest: false, verb: 'get' }],
    ['GET', '/apis', { isResourceRequest: false, verb: 'get' }],
    ['POST', '/logs', { isResourceRequest: false, verb: 'post' }],
    ['GET', '/', { isResourceRequest: false, verb: 'get', path: '/' }],
    // requestinfo.go: fewer than 3 segments after the prefix (group/version or version alone) is discovery,
    // a non-resource request.
    ['GET', '/api/v1', { isResourceRequest: false, verb: 'get', resource: '' }],
    ['GET', '/apis/apps', { isResourceRequest: false, verb: 'get' }],
    ['GET', '/apis/apps/v1', { isResourceRequest: false, verb: 'get', resource: '' }],
  ]
  for (const [m, u, e] of cases) it(`${m} ${u}`, () => check(m, u, e))

  it('path excludes the query', () => {
    assert.equal(requestInfo('GET', '/api/v1/pods?watch=1').path, '/api/v1/pods')
  })
})

describe('isLongRunning', () => {
  const yes = [
    '/api/v1/pods?watch=true',
    '/api/v1/namespaces/a/pods?labelSelector=x&watch=1',
    '/api/v1/watch/namespaces/a/pods',
    '/api/v1/namespaces/a/pods/p/log?follow=true',
    '/api/v1/namespaces/a/pods/p/exec?command=sh',
    '/api/v1/namespaces/a/pods/p/attach?stdin=true',
    '/api/v1/namespaces/a/pods/p/portforward',
    '/api/v1/namespaces/a/services/s/proxy/metrics',
    '/api/v1/namespaces/a/pods/p:8080/proxy/',
  ]
  const no = [
    '/api/v1/pods',
    '/api/v1/pods?watch=false',
    '/api/v1/namespaces/a/pods/p/log',
    '/api/v1/namespaces/a/pods/p/log?follow=false',
    '/version',
    '/api/v1/namespaces/a/configmaps/execution',
  ]
  for (const u of yes) it(`${u} -> true`, () => assert.equal(isLongRunning(u), true))
  for (const u of no) it(`${u} -> false`, () => assert.equal(isLongRunning(u), false))

  // Same bool decoding as the apiserver (see above): otherwise `?watch=yes` opens a watch that escapes the
  // per-user stream cap and gets the short response timeout.
  for (const u of ['/api/v1/pods?watch=True', '/api/v1/pods?watch=yes', '/api/v1/pods?watch', '/api/v1/pods?watch=f', '/api/v1/namespaces/a/pods/p/log?follow=t', '/api/v1/pods?%77atch=1']) {
    it(`${u} -> true (apiserver bool semantics)`, () => assert.equal(isLongRunning(u), true))
  }
})

describe('hasCredentialsInQuery', () => {
  const yes = [
    '/api/v1/pods?access_token=abc',
    '/api/v1/pods?ACCESS_TOKEN=abc',
    '/api/v1/pods?Access_Token=abc',
    '/api/v1/pods?id_token=abc',
    '/api/v1/pods?limit=1&id_token=abc',
    '/api/v1/pods?access_token',
    '/api/v1/pods?access%5ftoken=abc',
    '/api/v1/pods?access%5Ftoken=abc',
  ]
  const no = ['/api/v1/pods', '/api/v1/pods?limit=1', '/api/v1/pods?token_access=x', '/api/v1/pods?x=access_token', '/access_token']
  for (const u of yes) it(`${u} -> true`, () => assert.equal(hasCredentialsInQuery(u), true))
  for (const u of no) it(`${u} -> false`, () => assert.equal(hasCredentialsInQuery(u), false))

  // A server decodes every percent-escape in a query key (Go's url.ParseQuery), not only %5f.
  for (const u of ['/api/v1/pods?%61ccess_token=abc', '/api/v1/pods?access_%74oken=abc', '/api/v1/pods?%69d_token=abc']) {
    it(`${u} -> true (percent-encoded key)`, () => assert.equal(hasCredentialsInQuery(u), true))
  }
})

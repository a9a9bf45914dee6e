/**
 * Nested impersonation in the style of the security contract: the SubjectAccessReview's subject is always the
 * verified identity (never a value the client sent); a review that fails, is refused to kubegate, or is slow
 * never forwards, on plain requests and upgrades; malformed and foreign identity headers keep their answers.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { headerLines, type RecordedRequest } from '../../helpers/apiserver.js'
import { httpsRequest, type HttpsResult } from '../../helpers/https-get.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { header, rawConnect, spdyRequest, wsRequest } from '../upgrade/helpers.js'
import { BINDINGS, INSTRUCTOR, NAMESPACES, STUDENT } from './rbac.js'

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews'
const EXEC = '/api/v1/namespaces/user01/pods/web-1/exec?command=true&stdout=true'
const isReview = (r: RecordedRequest): boolean => r.url.startsWith(SAR_PATH)

let s: Stack
let token: string

function get (headers: string[], path = '/api/v1/namespaces/user01/pods'): Promise<HttpsResult> {
  return httpsRequest(s.kg.url + path, { ca: s.caPem, headers: ['Authorization', `Bearer ${token}`, ...headers] })
}

/** Runs `fn`; asserts that only SubjectAccessReviews (if any) reached the apiserver meanwhile. */
async function nothingForwarded<T> (fn: () => Promise<T>): Promise<T> {
  const from = s.apiserver.requests.length
  const upgrades = s.apiserver.upgradeRequests
  const out = await fn()
  assert.deepEqual(s.apiserver.requests.slice(from).filter((r) => !isReview(r)).map((r) => r.url), [], 'a request was forwarded')
  assert.equal(s.apiserver.upgradeRequests, upgrades, 'an upgrade was forwarded')
  return out
}

before(async () => {
  s = await startStack({
    apiserver: { rbac: BINDINGS, namespaces: NAMESPACES, pods: [{ namespace: 'user01', name: 'web-1' }] },
    config: { impersonation: { reviewTimeoutSeconds: 1, allowedCacheSeconds: 0, deniedCacheSeconds: 0 } },
  })
  token = await s.issuer.token({ email: INSTRUCTOR, sub: 'instructor-sub', groups: ['instructors'], uid: 'instr-uid' })
})
after(async () => { await s.close() })

describe('nested impersonation: security cases', () => {
  it('the SAR subject is the verified identity; subject-looking client headers change nothing', async () => {
    const from = s.apiserver.requests.length
    const r = await get(['Impersonate-User', STUDENT, 'X-Kubegate-User', 'system:admin', 'X-Forwarded-User', 'root'])
    assert.equal(r.status, 200, r.text)
    const sars = s.apiserver.requests.slice(from).filter(isReview).map((q) => JSON.parse(q.body.toString('utf8')) as { spec: Record<string, unknown> })
    assert.equal(sars.length, 1)
    assert.equal(sars[0]!.spec.user, INSTRUCTOR)
    assert.deepEqual(sars[0]!.spec.groups, ['instructors', 'system:authenticated'])
    // kubegate's SAR is its own call with its own token, not the client's.
    const sarReq = s.apiserver.requests.slice(from).find(isReview)!
    assert.deepEqual(headerLines(sarReq.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
    assert.deepEqual(headerLines(sarReq.rawHeaders, 'impersonate-user'), [])
  })

  it('X-Remote-* and Impersonate_User next to an allowed impersonation: 403, nothing asked or forwarded', async () => {
    for (const h of ['X-Remote-User', 'x-remote-group', 'Impersonate_User', 'Impersonate-Foo']) {
      const from = s.apiserver.requests.length
      const r = await get(['Impersonate-User', STUDENT, h, 'system:admin'])
      assert.equal(r.status, 403, h)
      assert.equal(r.json<{ message: string }>().message, 'impersonation and remote-user headers are not accepted through kubegate')
      assert.equal(s.apiserver.requests.length, from, h)
    }
  })

  it('a group, uid or extra without a user: the apiserver\'s 500, nothing asked or forwarded', async () => {
    const from = s.apiserver.requests.length
    const r = await get(['Impersonate-Group', 'system:masters'])
    assert.equal(r.status, 500)
    assert.deepEqual(r.json(), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'Internal error occurred: requested [{Group  system:masters    }] without impersonating a user', reason: 'InternalError', code: 500,
    })
    assert.equal(s.apiserver.requests.length, from)
  })

  it('one denied value among allowed ones: 403, nothing forwarded', async () => {
    const r = await nothingForwarded(() => get(['Impersonate-User', STUDENT, 'Impersonate-Group', 'students', 'Impersonate-Group', 'system:masters']))
    assert.equal(r.status, 403)
    assert.match(r.json<{ message: string }>().message, /^groups "system:masters" is forbidden: User "instructor@example\.com" cannot impersonate/)
  })

  it('kubegate may not create SubjectAccessReviews: 500 naming the RBAC, never forwarded', async () => {
    s.apiserver.setReviewRights({ subjectAccessReviews: false })
    try {
      const r = await nothingForwarded(() => get(['Impersonate-User', STUDENT]))
      assert.equal(r.status, 500)
      assert.match(r.json<{ message: string }>().message, /may not create the review/)
    } finally {
      s.apiserver.setReviewRights({ subjectAccessReviews: true })
    }
  })

  it('a slow SubjectAccessReview (past reviewTimeoutSeconds): 503, never forwarded, on both paths', async () => {
    s.apiserver.delay(4000, SAR_PATH)
    try {
      const r = await nothingForwarded(() => get(['Impersonate-User', STUDENT]))
      assert.equal(r.status, 503)
      assert.equal(r.json<{ reason: string }>().reason, 'ServiceUnavailable')
      for (const text of [
        wsRequest(EXEC, [`Authorization: Bearer ${token}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io', `Impersonate-User: ${STUDENT}`]),
        spdyRequest(EXEC, [`Authorization: Bearer ${token}`, `Impersonate-User: ${STUDENT}`]),
      ]) {
        await nothingForwarded(async () => {
          const c = await rawConnect(s.kg.url, s.caPem)
          c.socket.write(text)
          const a = await c.untilClosed(8000)
          c.close()
          assert.equal(a.status, 503)
          assert.equal(header(a, 'content-type')[0], 'application/json')
        })
      }
    } finally {
      s.apiserver.clearOverrides()
    }
  })

  it('a SubjectAccessReview answered with a redirect or a dead end: 503, never forwarded (redirects are not followed)', async () => {
    s.apiserver.redirect(SAR_PATH, `${s.kg.url}/api/v1/namespaces/user01/pods`)
    try {
      const r = await nothingForwarded(() => get(['Impersonate-User', STUDENT]))
      assert.equal(r.status, 503)
    } finally {
      s.apiserver.clearOverrides()
    }
  })

  it('an upgrade with a denied impersonation: the Forbidden on the socket, zero upgrade upstream', async () => {
    await nothingForwarded(async () => {
      const c = await rawConnect(s.kg.url, s.caPem)
      c.socket.write(spdyRequest(EXEC, [`Authorization: Bearer ${token}`, 'Impersonate-User: bob@example.com']))
      const a = await c.untilClosed(5000)
      c.close()
      assert.equal(a.status, 403)
      assert.equal((JSON.parse(a.body) as { message: string }).message,
        'users "bob@example.com" is forbidden: User "instructor@example.com" cannot impersonate resource "users" in API group "" at the cluster scope')
    })
  })

  it('an allowed impersonation on an upgrade: spliced with kubegate\'s lines for the target', async () => {
    const before = s.apiserver.upgrades.length
    const c = await rawConnect(s.kg.url, s.caPem)
    try {
      c.socket.write(spdyRequest(EXEC, [`Authorization: Bearer ${token}`, `Impersonate-User: ${STUDENT}`, 'Impersonate-Group: students']))
      assert.equal((await c.head()).status, 101)
      const u = s.apiserver.upgrades[before]!
      assert.deepEqual(headerLines(u.rawHeaders, 'impersonate-user'), [STUDENT])
      assert.deepEqual(headerLines(u.rawHeaders, 'impersonate-group'), ['students', 'system:authenticated'])
      assert.deepEqual(headerLines(u.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
    } finally {
      c.close()
    }
  })
})

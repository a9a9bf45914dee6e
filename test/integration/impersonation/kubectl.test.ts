/**
 * Nested impersonation with the real kubectl (`--as`, `--as-group`, `--as-uid`, a service-account target,
 * extras, exec): each requested value is authorized with a SubjectAccessReview for the verified user, the
 * apiserver's Forbidden comes back unchanged, and an allowed request runs as the target with kubegate's lines.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { headerLines, type RecordedRequest } from '../../helpers/apiserver.js'
import { httpsRequest } from '../../helpers/https-get.js'
import { hasKubectl, kubectl, KUBECTL, writeKubeconfig } from '../../helpers/kubectl.js'
import { createTempDir } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { BINDINGS, INSTRUCTOR, NAMESPACES, STUDENT } from './rbac.js'

const SAR_PATH = '/apis/authorization.k8s.io/v1/subjectaccessreviews'
const ADMINS = 'kubegate-admins'

let s: Stack
const auditFile = join(createTempDir('kubegate-audit-'), 'audit.log')
let instructor: string
let instructorToken: string

const isReview = (r: RecordedRequest): boolean => r.url.startsWith(SAR_PATH)
const forwarded = (s: Stack, from: number): RecordedRequest[] => s.apiserver.requests.slice(from).filter((r) => !isReview(r))
const reviews = (s: Stack, from: number): Array<{ spec: Record<string, unknown> }> =>
  s.apiserver.requests.slice(from).filter(isReview).map((r) => JSON.parse(r.body.toString('utf8')) as { spec: Record<string, unknown> })

before(async () => {
  assert.ok(hasKubectl(), `${KUBECTL} is required`)
  s = await startStack({
    apiserver: { rbac: BINDINGS, namespaces: NAMESPACES, pods: [{ namespace: 'user01', name: 'web-1' }] },
    config: { admin: { group: ADMINS }, audit: { file: auditFile } },
  })
  instructorToken = await s.issuer.token({ email: INSTRUCTOR, sub: 'instructor-sub', groups: ['instructors'] })
  instructor = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token: instructorToken })
})
after(async () => {
  await s.close()
})

describe('kubectl --as through kubegate', () => {
  it('--as an allowed user: whoami shows that user, asked with a SAR for the verified instructor', async () => {
    const from = s.apiserver.requests.length
    const r = await kubectl(['--as', STUDENT, 'auth', 'whoami'], { kubeconfig: instructor })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Username\s+user01@example\.com/)
    assert.match(r.stdout, /Groups\s+\[system:authenticated\]/)
    const sar = reviews(s, from)[0]
    assert.ok(sar !== undefined, 'a SubjectAccessReview was made')
    assert.equal(sar.spec.user, INSTRUCTOR)
    assert.deepEqual(sar.spec.groups, ['instructors', 'system:authenticated'])
    assert.deepEqual(sar.spec.resourceAttributes, { verb: 'impersonate', group: '', resource: 'users', name: STUDENT })
    const whoami = forwarded(s, from).find((q) => q.url.includes('selfsubjectreviews'))
    assert.ok(whoami !== undefined)
    assert.deepEqual(headerLines(whoami.rawHeaders, 'impersonate-user'), [STUDENT])
    assert.deepEqual(headerLines(whoami.rawHeaders, 'impersonate-group'), ['system:authenticated'])
    assert.deepEqual(headerLines(whoami.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
  })

  it('the access log and the audit events carry both identities, with the apiserver\'s field names', async () => {
    const r = await kubectl(['--as', STUDENT, '--as-group', 'students', '-n', 'user01', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(r.code, 0, r.stderr)
    // The record is written when the exchange ends, which may be just after kubectl has its answer.
    let line: Record<string, unknown> | undefined
    for (let i = 0; i < 100 && line === undefined; i++) {
      line = s.logs.findLast((l) => l.msg === 'request' && l.resource === 'pods' && l.impersonatedGroups !== undefined && (l.impersonatedGroups as string[]).includes('students'))
      if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(line !== undefined, 'access line written')
    assert.equal(line.user, INSTRUCTOR)
    assert.deepEqual(line.groups, ['instructors'])
    assert.equal(line.impersonatedUser, STUDENT)
    assert.deepEqual(line.impersonatedGroups, ['students', 'system:authenticated'])
    let event: Record<string, unknown> | undefined
    for (let i = 0; i < 100 && event === undefined; i++) {
      const lines = (await readFile(auditFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '')
      event = lines.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((e) => (e.objectRef as { resource?: string } | undefined)?.resource === 'pods')
      if (event === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(event !== undefined, 'audit event written')
    assert.deepEqual(event.user, { username: INSTRUCTOR, groups: ['instructors'] })
    assert.deepEqual(event.impersonatedUser, { username: STUDENT, groups: ['students', 'system:authenticated'] })
  })

  it('a write with a body (POST) as another user is in the access log and the audit file too', async () => {
    const r = await httpsRequest(`${s.kg.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, {
      ca: s.caPem, method: 'POST', body: '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
      headers: ['Authorization', `Bearer ${instructorToken}`, 'Content-Type', 'application/json', 'Impersonate-User', STUDENT],
    })
    assert.equal(r.status, 201, r.text)
    let line: Record<string, unknown> | undefined
    let event: Record<string, unknown> | undefined
    for (let i = 0; i < 100 && (line === undefined || event === undefined); i++) {
      line = s.logs.findLast((l) => l.msg === 'request' && l.method === 'POST' && l.resource === 'selfsubjectreviews')
      const lines = (await readFile(auditFile, 'utf8').catch(() => '')).split('\n').filter((l) => l !== '')
      event = lines.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((e) => e.verb === 'create' && (e.objectRef as { resource?: string } | undefined)?.resource === 'selfsubjectreviews')
      if (line === undefined || event === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(line !== undefined, 'access line written')
    assert.equal(line.impersonatedUser, STUDENT)
    assert.equal(line.remoteAddress, '127.0.0.1')
    assert.ok(event !== undefined, 'audit event written')
    assert.deepEqual(event.impersonatedUser, { username: STUDENT, groups: ['system:authenticated'] })
  })

  it('the target\'s RBAC applies: user01\'s pods yes, nodes no (the apiserver\'s message for user01)', async () => {
    const ok = await kubectl(['--as', STUDENT, '-n', 'user01', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /web-1/)
    const no = await kubectl(['--as', STUDENT, 'get', 'nodes'], { kubeconfig: instructor })
    assert.equal(no.code, 1)
    assert.match(no.stderr, /nodes is forbidden: User "user01@example\.com" cannot list resource "nodes"/)
  })

  it('--as a user the instructor may not impersonate: the apiserver\'s Forbidden, word for word, nothing forwarded', async () => {
    const from = s.apiserver.requests.length
    const r = await kubectl(['--as', 'bob@example.com', 'get', 'pods', '-n', 'user01'], { kubeconfig: instructor })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error from server \(Forbidden\): users "bob@example\.com" is forbidden: User "instructor@example\.com" cannot impersonate resource "users" in API group "" at the cluster scope/)
    assert.deepEqual(forwarded(s, from), [])
  })

  it('--as-group: allowed group yes, another group no', async () => {
    const ok = await kubectl(['--as', STUDENT, '--as-group', 'students', 'auth', 'whoami'], { kubeconfig: instructor })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /Groups\s+\[students system:authenticated\]/)
    // (kubectl auth whoami hides a 403's message behind "not enabled ... or no permission": denials use get.)
    const no = await kubectl(['--as', STUDENT, '--as-group', 'system:masters', '-n', 'user01', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(no.code, 1)
    assert.match(no.stderr, /groups "system:masters" is forbidden: User "instructor@example\.com" cannot impersonate resource "groups" in API group "" at the cluster scope/)
  })

  it('--as-uid: forwarded as Impersonate-Uid when allowed; uids in authentication.k8s.io otherwise', async () => {
    const ok = await kubectl(['--as', STUDENT, '--as-uid', 'u-1', 'auth', 'whoami', '-o', 'json'], { kubeconfig: instructor })
    assert.equal(ok.code, 0, ok.stderr)
    assert.equal((JSON.parse(ok.stdout) as { status: { userInfo: { uid?: string } } }).status.userInfo.uid, 'u-1')
    const no = await kubectl(['--as', STUDENT, '--as-uid', 'u-2', '-n', 'user01', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(no.code, 1)
    assert.match(no.stderr, /uids\.authentication\.k8s\.io "u-2" is forbidden: User "instructor@example\.com" cannot impersonate resource "uids" in API group "authentication\.k8s\.io" at the cluster scope/)
  })

  it('a service-account target gets its groups; another service account is refused in its namespace', async () => {
    const ok = await kubectl(['--as', 'system:serviceaccount:ci:deployer', 'auth', 'whoami'], { kubeconfig: instructor })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /Username\s+system:serviceaccount:ci:deployer/)
    assert.match(ok.stdout, /Groups\s+\[system:serviceaccounts system:serviceaccounts:ci system:authenticated\]/)
    const pods = await kubectl(['--as', 'system:serviceaccount:ci:deployer', '-n', 'ci', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(pods.code, 0, pods.stderr)
    const no = await kubectl(['--as', 'system:serviceaccount:ci:builder', '-n', 'ci', 'get', 'pods'], { kubeconfig: instructor })
    assert.equal(no.code, 1)
    assert.match(no.stderr, /serviceaccounts "builder" is forbidden: User "instructor@example\.com" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "ci"/)
  })

  it('extras (Impersonate-Extra-<key>): allowed value forwarded, escaped as client-go does; other value refused', async () => {
    const call = (value: string) => httpsRequest(`${s.kg.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, {
      ca: s.caPem, method: 'POST', body: '{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}',
      headers: ['Authorization', `Bearer ${instructorToken}`, 'Content-Type', 'application/json', 'Impersonate-User', STUDENT, 'Impersonate-Extra-Scopes', value],
    })
    const ok = await call('view')
    assert.equal(ok.status, 201, ok.text)
    assert.deepEqual(ok.json<{ status: { userInfo: { extra?: unknown } } }>().status.userInfo.extra, { scopes: ['view'] })
    const no = await call('admin')
    assert.equal(no.status, 403)
    assert.deepEqual(no.json(), {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: 'userextras.authentication.k8s.io "admin" is forbidden: User "instructor@example.com" cannot impersonate resource "userextras/scopes" in API group "authentication.k8s.io" at the cluster scope',
      reason: 'Forbidden', details: { name: 'admin', group: 'authentication.k8s.io', kind: 'userextras' }, code: 403,
    })
  })

  it('--as with an expired token: 401 before anything is asked', async () => {
    const now = Math.floor(Date.now() / 1000)
    const expired = await s.issuer.token({ email: INSTRUCTOR, groups: ['instructors'], iat: now - 7200, exp: now - 3600 })
    const kc = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token: expired })
    const from = s.apiserver.requests.length
    const r = await kubectl(['--as', STUDENT, 'get', 'pods'], { kubeconfig: kc })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/)
    assert.equal(s.apiserver.requests.length, from, 'not even a SubjectAccessReview')
  })

  it('exec with --as goes through the same check and runs as the target', async () => {
    const ok = await kubectl(['--as', STUDENT, '-n', 'user01', 'exec', 'web-1', '--', 'echo', 'hi'], { kubeconfig: instructor })
    assert.equal(ok.code, 0, ok.stderr)
    assert.match(ok.stdout, /hi/)
    assert.equal(s.apiserver.upgrades.at(-1)?.identity.user, STUDENT)
    const from = s.apiserver.upgradeRequests
    const no = await kubectl(['--as', 'bob@example.com', '-n', 'user01', 'exec', 'web-1', '--', 'echo', 'hi'], { kubeconfig: instructor })
    assert.notEqual(no.code, 0)
    assert.match(no.stderr, /users "bob@example\.com" is forbidden: User "instructor@example\.com" cannot impersonate resource "users"/)
    assert.equal(s.apiserver.upgradeRequests, from, 'no upgrade reached the apiserver')
  })

  it('a revoked instructor: 401 at once, the cached allowed answer notwithstanding', async () => {
    const warm = await kubectl(['--as', STUDENT, 'auth', 'whoami'], { kubeconfig: instructor })
    assert.equal(warm.code, 0, warm.stderr)
    const admin = await s.issuer.token({ email: 'admin@example.com', groups: [ADMINS] })
    const rev = await httpsRequest(`${s.kg.url}/kubegate/v1/revocations`, {
      ca: s.caPem, method: 'POST', body: JSON.stringify({ user: INSTRUCTOR, reason: 'test' }),
      headers: ['Authorization', `Bearer ${admin}`, 'Content-Type', 'application/json'],
    })
    assert.equal(rev.status, 201, rev.text)
    const from = s.apiserver.requests.length
    const r = await kubectl(['--as', STUDENT, 'auth', 'whoami'], { kubeconfig: instructor })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Unauthorized/)
    assert.equal(s.apiserver.requests.length, from)
  })
})

describe('--nested-impersonation=false', () => {
  let off: Stack
  before(async () => {
    off = await startStack({ apiserver: { rbac: BINDINGS, namespaces: NAMESPACES }, config: { impersonation: { nested: false } } })
  })
  after(async () => { await off.close() })

  it('client identity headers get 403 as before, nothing asked or forwarded', async () => {
    const token = await off.issuer.token({ email: INSTRUCTOR, groups: ['instructors'] })
    const kc = await writeKubeconfig({ server: off.kg.url, caFile: off.caFile, token })
    const from = off.apiserver.requests.length
    const r = await kubectl(['--as', STUDENT, '-n', 'user01', 'get', 'pods'], { kubeconfig: kc })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error from server \(Forbidden\)/)
    const raw = await httpsRequest(`${off.kg.url}/api/v1/namespaces/user01/pods`, { ca: off.caPem, headers: ['Authorization', `Bearer ${token}`, 'Impersonate-User', STUDENT] })
    assert.equal(raw.status, 403)
    assert.equal(raw.json<{ message: string }>().message, 'impersonation and remote-user headers are not accepted through kubegate')
    assert.equal(off.apiserver.requests.length, from)
  })
})

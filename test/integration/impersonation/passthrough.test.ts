/**
 * Token passthrough with the real kubectl: a ServiceAccount token (`kubectl create token`) is reviewed with a
 * TokenReview and forwarded with the client's own token and nothing of kubegate's; garbage and forged tokens
 * get 401 with nothing forwarded; without --token-passthrough such tokens keep getting 401 and nothing at all
 * reaches the apiserver.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { headerLines, SA_ISSUER, type RecordedRequest } from '../../helpers/apiserver.js'
import { httpsRequest } from '../../helpers/https-get.js'
import { generateAttackerKey } from '../../helpers/issuer.js'
import { hasKubectl, kubectl, KUBECTL, writeKubeconfig } from '../../helpers/kubectl.js'
import { startStack, type Stack } from '../../helpers/stack.js'
import { rawConnect, spdyRequest } from '../upgrade/helpers.js'
import { BINDINGS, DEPLOYER, NAMESPACES, STUDENT } from './rbac.js'

const TR_PATH = '/apis/authentication.k8s.io/v1/tokenreviews'
const isReview = (r: RecordedRequest): boolean => r.url.startsWith(TR_PATH)

function identityLines (r: RecordedRequest): string[] {
  const out: string[] = []
  for (let i = 0; i < r.rawHeaders.length; i += 2) if (/^impersonate-/i.test(r.rawHeaders[i] ?? '')) out.push(`${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}`)
  return out
}

describe('token passthrough on', () => {
  let s: Stack
  before(async () => {
    assert.ok(hasKubectl(), `${KUBECTL} is required`)
    s = await startStack({
      apiserver: { rbac: BINDINGS, namespaces: NAMESPACES, pods: [{ namespace: 'ci', name: 'build-1' }] },
      config: { tokenPassthrough: { enabled: true }, admin: { group: 'kubegate-admins' } },
    })
  })
  after(async () => { await s.close() })

  it('a ServiceAccount token: whoami shows the service account; RBAC applies to it; upstream got its own token only', async () => {
    const token = s.apiserver.issueServiceAccountToken('ci', 'deployer')
    const kc = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token })
    const from = s.apiserver.requests.length
    const who = await kubectl(['auth', 'whoami'], { kubeconfig: kc })
    assert.equal(who.code, 0, who.stderr)
    assert.match(who.stdout, /Username\s+system:serviceaccount:ci:deployer/)
    assert.match(who.stdout, /Groups\s+\[system:serviceaccounts system:serviceaccounts:ci system:authenticated\]/)
    const pods = await kubectl(['-n', 'ci', 'get', 'pods'], { kubeconfig: kc })
    assert.equal(pods.code, 0, pods.stderr)
    assert.match(pods.stdout, /build-1/)
    const denied = await kubectl(['-n', 'user01', 'get', 'pods'], { kubeconfig: kc })
    assert.equal(denied.code, 1)
    assert.match(denied.stderr, /pods is forbidden: User "system:serviceaccount:ci:deployer" cannot list resource "pods" in API group "" in the namespace "user01"/)

    const seen = s.apiserver.requests.slice(from)
    const forwarded = seen.filter((r) => !isReview(r))
    assert.ok(forwarded.length >= 3)
    for (const r of forwarded) {
      assert.deepEqual(headerLines(r.rawHeaders, 'authorization'), [`Bearer ${token}`], r.url)
      assert.deepEqual(identityLines(r), [], r.url)
      assert.equal(r.requestor?.user, DEPLOYER)
    }
    // One review, then the cache: a discovery burst does not cost a review per request.
    const reviewsMade = seen.filter(isReview)
    assert.equal(reviewsMade.length, 1)
    assert.equal(reviewsMade[0]?.token, s.apiserver.token, 'the review itself is kubegate\'s call')
  })

  it('upgrades too: an exec with a ServiceAccount token reaches the apiserver with that token only (its RBAC answers)', async () => {
    const token = s.apiserver.issueServiceAccountToken('ci', 'deployer')
    const from = s.apiserver.requests.length
    const c = await rawConnect(s.kg.url, s.caPem)
    c.socket.write(spdyRequest('/api/v1/namespaces/ci/pods/build-1/exec?command=true&stdout=true', [`Authorization: Bearer ${token}`]))
    const a = await c.untilClosed(5000)
    c.close()
    // The deployer may not exec: the apiserver's own Forbidden, for the deployer.
    assert.equal(a.status, 403)
    assert.match(a.body, /User \\"system:serviceaccount:ci:deployer\\" cannot create resource \\"pods\/exec\\"/)
    const up = s.apiserver.requests.slice(from).filter((r) => !isReview(r))
    assert.equal(up.length, 1)
    assert.equal(up[0]!.upgrade, true)
    assert.deepEqual(headerLines(up[0]!.rawHeaders, 'authorization'), [`Bearer ${token}`])
    assert.deepEqual(identityLines(up[0]!), [])
  })

  it('garbage, a foreign-key SA-shaped token, a revoked token: 401 with nothing forwarded', async () => {
    const attacker = await generateAttackerKey()
    const forged = await s.issuer.sign({ iss: SA_ISSUER, sub: DEPLOYER, aud: [SA_ISSUER], exp: Math.floor(Date.now() / 1000) + 600 }, { privateKey: attacker.privateKey })
    const revoked = s.apiserver.issueServiceAccountToken('ci', 'deployer')
    s.apiserver.revokeServiceAccountToken(revoked)
    for (const token of ['garbage', forged, revoked]) {
      const kc = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token })
      const from = s.apiserver.requests.length
      const r = await kubectl(['-n', 'ci', 'get', 'pods'], { kubeconfig: kc })
      assert.equal(r.code, 1)
      assert.match(r.stderr, /You must be logged in to the server/)
      assert.deepEqual(s.apiserver.requests.slice(from).filter((q) => !isReview(q)).map((q) => q.url), [], token.slice(0, 12))
    }
  })

  it('a forged token claiming the configured issuer is verified by kubegate, never reviewed', async () => {
    const attacker = await generateAttackerKey()
    const forged = await s.issuer.sign(s.issuer.claims({ email: STUDENT }), { privateKey: attacker.privateKey })
    const from = s.apiserver.requests.length
    const r = await httpsRequest(`${s.kg.url}/api/v1/namespaces/user01/pods`, { ca: s.caPem, headers: ['Authorization', `Bearer ${forged}`] })
    assert.equal(r.status, 401)
    assert.equal(s.apiserver.requests.length, from, 'no TokenReview, nothing forwarded')
  })

  it('OIDC users are unaffected: verified by kubegate, forwarded with kubegate\'s token', async () => {
    const token = await s.issuer.token({ email: STUDENT, groups: ['students'] })
    const from = s.apiserver.requests.length
    const r = await httpsRequest(`${s.kg.url}/api/v1/namespaces/user01/pods`, { ca: s.caPem, headers: ['Authorization', `Bearer ${token}`] })
    assert.equal(r.status, 200, r.text)
    const seen = s.apiserver.requests.slice(from)
    assert.deepEqual(seen.map((q) => q.url), ['/api/v1/namespaces/user01/pods'])
    assert.deepEqual(headerLines(seen[0]!.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
  })

  it('the access log names the reviewed identity; revoking it by user name refuses its token at once', async () => {
    const reporter = 'system:serviceaccount:ci:reporter'
    const token = s.apiserver.issueServiceAccountToken('ci', 'reporter')
    const call = () => httpsRequest(`${s.kg.url}/version`, { ca: s.caPem, headers: ['Authorization', `Bearer ${token}`] })
    assert.equal((await call()).status, 200)
    let line: Record<string, unknown> | undefined
    for (let i = 0; i < 100 && line === undefined; i++) {
      line = s.logs.findLast((l) => l.msg === 'request' && l.uri === '/version' && l.user === reporter)
      if (line === undefined) await new Promise((resolve) => setTimeout(resolve, 50))
    }
    assert.ok(line !== undefined, 'access line for the service account')
    assert.deepEqual(line.groups, ['system:serviceaccounts', 'system:serviceaccounts:ci', 'system:authenticated'])
    const admin = await s.issuer.token({ email: 'admin@example.com', groups: ['kubegate-admins'] })
    const rev = await httpsRequest(`${s.kg.url}/kubegate/v1/revocations`, {
      ca: s.caPem, method: 'POST', body: JSON.stringify({ user: reporter, reason: 'leaked' }),
      headers: ['Authorization', `Bearer ${admin}`, 'Content-Type', 'application/json'],
    })
    assert.equal(rev.status, 201, rev.text)
    const from = s.apiserver.requests.length
    assert.equal((await call()).status, 401)
    // Revocation also evicted the cached review: the token may be reviewed again, but nothing is forwarded.
    assert.deepEqual(s.apiserver.requests.slice(from).filter((q) => !isReview(q)).map((q) => q.url), [])
  })

  it('client Impersonate-* on a passed-through token: rebuilt and left to the apiserver, which checks the token\'s own rights', async () => {
    const token = s.apiserver.issueServiceAccountToken('ci', 'deployer')
    const from = s.apiserver.requests.length
    const r = await httpsRequest(`${s.kg.url}/api/v1/namespaces/ci/pods`, {
      ca: s.caPem, headers: ['Authorization', `Bearer ${token}`, 'impersonate-user', STUDENT, 'Impersonate-Group', 'students'],
    })
    // The deployer may not impersonate: the apiserver's own Forbidden, for the deployer.
    assert.equal(r.status, 403)
    assert.match(r.text, /users \\"user01@example.com\\" is forbidden: User \\"system:serviceaccount:ci:deployer\\" cannot impersonate resource \\"users\\"/)
    const fwd = s.apiserver.requests.slice(from).filter((q) => !isReview(q))
    assert.equal(fwd.length, 1)
    assert.deepEqual(identityLines(fwd[0]!), [`Impersonate-User: ${STUDENT}`, 'Impersonate-Group: students'])
    assert.deepEqual(headerLines(fwd[0]!.rawHeaders, 'authorization'), [`Bearer ${token}`])
  })
})

describe('token passthrough off (default)', () => {
  let s: Stack
  before(async () => {
    s = await startStack({ apiserver: { rbac: BINDINGS, namespaces: NAMESPACES } })
  })
  after(async () => { await s.close() })

  it('a ServiceAccount token gets 401 and nothing reaches the apiserver', async () => {
    const token = s.apiserver.issueServiceAccountToken('ci', 'deployer')
    const kc = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token })
    const from = s.apiserver.requests.length
    const r = await kubectl(['-n', 'ci', 'get', 'pods'], { kubeconfig: kc })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /You must be logged in to the server/)
    assert.equal(s.apiserver.requests.length, from)
  })
})

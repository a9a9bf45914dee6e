/**
 * Real kubectl through kubegate: the demo's four checks, apply (request body streamed), watch and logs -f
 * (flushing), key rotation at the issuer during a run, and more than one kubectl version.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { headerLines } from '../../helpers/apiserver.js'
import { kubectl, kubectlBinary, kubectlOnPath, startKubectl, writeKubeconfig } from '../../helpers/kubectl.js'
import { createTempDir } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'

let s: Stack
let kubeconfig: string

const USER = 'user01@example.com'

async function kubeconfigFor (overrides: Record<string, unknown> = {}): Promise<string> {
  const token = await s.issuer.token({ email: USER, groups: ['students'], ...overrides })
  return writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token, namespace: 'user01' })
}

before(async () => {
  kubectlOnPath() // fails here, naming what is missing, when there is no kubectl
  s = await startStack({ config: { oidc: { jwksRefreshCooldownSeconds: 1 } } })
  kubeconfig = await kubeconfigFor()
  s.apiserver.addPod('user01', 'web-1')
})
after(async () => {
  await s.close()
})

describe('kubectl through kubegate', () => {
  it('auth whoami shows the token\'s user and groups', async () => {
    const r = await kubectl(['auth', 'whoami'], { kubeconfig })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /Username\s+user01@example\.com/)
    assert.match(r.stdout, /Groups\s+\[students system:authenticated\]/)
  })

  it('get pods in the user\'s own namespace is allowed', async () => {
    const r = await kubectl(['-n', 'user01', 'get', 'pods'], { kubeconfig })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /web-1\s+1\/1\s+Running/)
    const list = s.apiserver.requests.filter((q) => q.url.startsWith('/api/v1/namespaces/user01/pods'))
    assert.ok(list.length > 0)
    for (const q of list) {
      assert.deepEqual(headerLines(q.rawHeaders, 'impersonate-user'), [USER])
      assert.deepEqual(headerLines(q.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
    }
  })

  it('get nodes shows the apiserver\'s Forbidden message unchanged', async () => {
    const r = await kubectl(['get', 'nodes'], { kubeconfig })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /Error from server \(Forbidden\): nodes is forbidden: User "user01@example\.com" cannot list resource "nodes" in API group "" at the cluster scope/)
  })

  it('an expired token is Unauthorized (401), so credential plugins refresh', async () => {
    const now = Math.floor(Date.now() / 1000)
    const kc = await kubeconfigFor({ iat: now - 7200, exp: now - 3600 })
    const before = s.apiserver.requests.length
    const r = await kubectl(['get', 'pods'], { kubeconfig: kc })
    assert.equal(r.code, 1)
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/)
    assert.equal(s.apiserver.requests.length, before)
  })

  it('apply -f streams the request body through to the apiserver', async () => {
    const dir = createTempDir('kubegate-apply-')
    const file = join(dir, 'pod.yaml')
    await writeFile(file, [
      'apiVersion: v1', 'kind: Pod', 'metadata:', '  name: applied', '  namespace: user01', '  labels: {app: demo}',
      'spec:', '  containers:', '  - name: web', '    image: nginx:1.27', '',
    ].join('\n'))
    const r = await kubectl(['apply', '-f', file], { kubeconfig })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /pod\/applied created/)
    const stored = s.apiserver.getObject('pods', 'user01', 'applied') as { spec?: { containers?: Array<{ image?: string }> } } | undefined
    assert.equal(stored?.spec?.containers?.[0]?.image, 'nginx:1.27')
    const create = s.apiserver.requests.find((q) => q.method === 'POST' && q.url.startsWith('/api/v1/namespaces/user01/pods'))
    assert.ok(create !== undefined && create.body.length > 0)
    assert.equal(create.identity?.user, USER)
  })

  it('get pods -w receives an event the apiserver emits a second later (responses are flushed)', async () => {
    const p = startKubectl(['-n', 'user01', 'get', 'pods', '-w', '--output-watch-events'], { kubeconfig, hardTimeoutMs: 20_000 })
    try {
      await p.waitFor(/web-1/, 10_000)
      setTimeout(() => s.apiserver.addPod('user01', 'late-arrival'), 1000)
      // addPod does not notify watches by itself on every double version; emit explicitly as well.
      setTimeout(() => s.apiserver.emitPodEvent('user01', 'MODIFIED', 'late-arrival'), 1100)
      await p.waitFor(/late-arrival/, 8000)
    } finally {
      await p.stop()
    }
  })

  it('logs -f shows a line written after the stream opened', async () => {
    const p = startKubectl(['-n', 'user01', 'logs', '-f', 'web-1'], { kubeconfig, hardTimeoutMs: 20_000 })
    try {
      await new Promise((r) => setTimeout(r, 1500))
      s.apiserver.writeLog('line-after-a-second', { namespace: 'user01', name: 'web-1' })
      await p.waitFor(/line-after-a-second/, 8000)
    } finally {
      await p.stop()
    }
  })

  it('keeps working across a key rotation at the issuer', async () => {
    await new Promise((r) => setTimeout(r, 1100)) // past the JWKS refetch cooldown
    await s.issuer.rotate()
    const kc = await kubeconfigFor({ jti: 'after-rotation' })
    const r = await kubectl(['auth', 'whoami'], { kubeconfig: kc })
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /user01@example\.com/)
    const old = await kubectl(['-n', 'user01', 'get', 'pods'], { kubeconfig })
    assert.equal(old.code, 0, 'a token signed by the previous (still published) key must keep working')
  })

  for (const minor of ['1.27', '1.33']) {
    it(`kubectl ${minor} (SelfSubjectReview ${minor === '1.27' ? 'v1beta1' : 'v1'})`, async () => {
      const bin = kubectlBinary(minor)
      const r = await kubectl(['auth', 'whoami'], { kubeconfig, binary: bin })
      assert.equal(r.code, 0, r.stderr)
      assert.match(r.stdout, /user01@example\.com/)
      const g = await kubectl(['-n', 'user01', 'get', 'pods', 'web-1', '-o', 'name'], { kubeconfig, binary: bin })
      assert.equal(g.stdout.trim(), 'pod/web-1')
    })
  }
})

/**
 * kubegate with an AuthenticationConfiguration of three issuers — Dex-like (claims), a CI issuer with its own
 * CA (CEL mappings, extra), and one found only through its discoveryURL — against the apiserver double whose
 * RBAC gives kubegate's ServiceAccount exactly the rules `kubegate rbac` derives. Real kubectl for the
 * CEL-mapped CI user; /readyz per issuer; a bad new file refused at reload while the running one keeps serving.
 */
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { stringify } from 'yaml'
import { readAuthenticationConfiguration } from '../../../src/authn/load.js'
import { impersonationRules } from '../../../src/authn/rbac.js'
import { headerLines, startApiServer, type ApiServerDouble } from '../../helpers/apiserver.js'
import { createRbac, SERVICE_ACCOUNT_USER, type RoleBinding } from '../../helpers/apiserver/rbac.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'
import { hasKubectl, kubectl, KUBECTL, writeKubeconfig } from '../../helpers/kubectl.js'
import { createTempDir, createTestPki, getTestPki } from '../../helpers/pki.js'
import { parseExposition } from '../../helpers/prom-text.js'
import { startStack, testConfigTree, type Stack } from '../../helpers/stack.js'
import { loadConfig } from '../../../src/config/load.js'
import { createReloader, reloadableFiles, type Reloader } from '../../../src/lifecycle.js'
import { httpsRequest } from '../../helpers/https-get.js'
import { get, until } from '../../helpers/poll.js'

let dex: TestIssuer
let ci: TestIssuer
let tenant: TestIssuer
let apiserver: ApiServerDouble
let s: Stack
let configFile: string
let reloader: Reloader | undefined
/** The stack's settings with the file instead of the --oidc-* issuer settings (set in before()). */
let OVERRIDES: Record<string, unknown> = {}

function authenticationConfig (options: { withTenant: boolean }): string {
  const jwt: unknown[] = [
    {
      issuer: { url: dex.url, audiences: ['kubegate'], certificateAuthority: dex.caPem },
      claimValidationRules: [{ expression: 'claims.email_verified == true', message: 'email not verified' }],
      claimMappings: { username: { expression: 'claims.email' }, groups: { claim: 'groups', prefix: 'dex:' }, uid: { claim: 'sub' } },
      userValidationRules: [{ expression: "!user.username.startsWith('banned')", message: 'banned' }],
    },
    {
      issuer: { url: ci.url, audiences: ['ci-audience', 'kubegate'], audienceMatchPolicy: 'MatchAny', certificateAuthority: ci.caPem },
      claimValidationRules: [{ claim: 'namespace_path', requiredValue: 'platform' }],
      claimMappings: {
        username: { expression: "'ci:' + claims.project_path.lowerAscii() + ':' + claims.ref" },
        groups: { expression: "['ci', 'ci:' + claims.namespace_path]" },
        extra: [{ key: 'ci.example.com/pipeline', valueExpression: 'string(claims.pipeline_id)' }],
      },
    },
  ]
  if (options.withTenant) {
    jwt.push({
      issuer: { url: tenant.url, discoveryURL: tenant.discoveryUrl, audiences: ['kubegate'], certificateAuthority: tenant.caPem },
      claimMappings: { username: { claim: 'sub', prefix: 'tenant:' } },
    })
  }
  return stringify({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AuthenticationConfiguration', jwt })
}

async function call (token: string, path = '/api/v1/namespaces/platform/pods'): Promise<{ status: number, body: string }> {
  const r = await httpsRequest(s.kg.url + path, { ca: s.caPem, headers: ['Authorization', `Bearer ${token}`] })
  return { status: r.status, body: r.body.toString('utf8') }
}

function ciToken (overrides: Record<string, unknown> = {}): Promise<string> {
  return ci.token({ aud: 'kubegate', email: undefined, email_verified: undefined, groups: undefined, sub: 'project_path:platform/Web:ref_type:branch:ref:main', project_path: 'platform/Web', namespace_path: 'platform', ref: 'main', pipeline_id: 4711, ...overrides })
}

before(async () => {
  assert.ok(hasKubectl(), `${KUBECTL} is required`)
  const pki = await getTestPki()
  dex = await startTestIssuer({ pki })
  ci = await startTestIssuer({ pki: await createTestPki({ caName: 'ci-root' }) })
  tenant = await startTestIssuer({ pki, issuerPath: '/tenant', discoveryPath: '/discovery/tenant' })
  configFile = join(createTempDir('kubegate-authn-'), 'authentication.yaml')
  writeFileSync(configFile, authenticationConfig({ withTenant: true }))
  OVERRIDES = {
    authentication: { configFile },
    oidc: { issuerUrl: null, clientId: null, caFile: null, usernameClaim: null, groupsClaim: null, signingAlgs: null },
    upstream: { tokenRefreshSeconds: 3600 },
  }
  // kubegate's ServiceAccount gets exactly what `kubegate rbac` derives, nothing more.
  const derived = impersonationRules(readAuthenticationConfiguration(configFile))
  const bindings: RoleBinding[] = [
    { subjects: [{ kind: 'User', name: SERVICE_ACCOUNT_USER }], rules: derived },
    { namespace: 'platform', subjects: [{ kind: 'Group', name: 'ci:platform' }], rules: [{ verbs: ['get', 'list', 'create'], apiGroups: [''], resources: ['pods'] }] },
    { namespace: 'platform', subjects: [{ kind: 'Group', name: 'dex:dev' }], rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }] },
    { namespace: 'platform', subjects: [{ kind: 'User', name: 'tenant:t-1' }], rules: [{ verbs: ['list'], apiGroups: [''], resources: ['pods'] }] },
  ]
  apiserver = await startApiServer({ pki, serviceAccountMayImpersonate: false, rbac: createRbac(bindings), namespaces: ['default', 'platform'] })
  s = await startStack({
    peers: { issuer: dex, apiserver },
    config: { ...OVERRIDES },
  })
  await until('every issuer ready', async () => (await get(s.kg.metricsServer.url + '/readyz')).status === 200)
})

after(async () => {
  reloader?.close()
  await s?.close()
  await apiserver?.close()
  for (const i of [dex, ci, tenant]) await i?.close()
})

describe('AuthenticationConfiguration with three issuers', () => {
  it('a Dex token: username from CEL, prefixed groups and uid, as the apiserver maps them', async () => {
    const r = await call(await dex.token({ email: 'alice@example.com', groups: ['dev'] }))
    assert.equal(r.status, 200, r.body)
    const rec = apiserver.requests.at(-1)
    assert.equal(rec?.identity?.user, 'alice@example.com')
    assert.deepEqual(headerLines(rec?.rawHeaders ?? [], 'impersonate-group'), ['dex:dev'])
    assert.equal(headerLines(rec?.rawHeaders ?? [], 'impersonate-uid').length, 1)
  })
  it('the CI issuer (its own CA, two audiences): CEL user, groups and an extra, allowed by the derived RBAC', async () => {
    const r = await call(await ciToken())
    assert.equal(r.status, 200, r.body)
    const rec = apiserver.requests.at(-1)
    assert.equal(rec?.identity?.user, 'ci:platform/web:main')
    assert.deepEqual(rec?.identity?.groups.filter((g) => g.startsWith('ci')), ['ci', 'ci:platform'])
    assert.deepEqual(rec?.identity?.extra, { 'ci.example.com/pipeline': ['4711'] })
    assert.deepEqual(headerLines(rec?.rawHeaders ?? [], 'impersonate-extra-ci.example.com%2Fpipeline'), ['4711'])
  })
  it('the tenant issuer is found only through its discoveryURL', async () => {
    const r = await call(await tenant.token({ sub: 't-1' }))
    assert.equal(r.status, 200, r.body)
    assert.equal(apiserver.requests.at(-1)?.identity?.user, 'tenant:t-1')
    assert.ok(tenant.paths.includes('/discovery/tenant'))
    assert.ok(!tenant.paths.includes('/tenant/.well-known/openid-configuration'))
  })
  it('refused as the apiserver refuses: unknown issuer, wrong audience, failed rules — 401 Status, nothing forwarded', async () => {
    const before = apiserver.requests.length
    const other = await startTestIssuer({ pki: await getTestPki() })
    try {
      const cases: Array<[string, Promise<string>]> = [
        ['issuer not configured', other.token()],
        ['audience not accepted', ciToken({ aud: 'someone-else' })],
        ['a Dex token signed by the CI key (routing is by iss, keys per issuer)', dex.sign(dex.claims(), { privateKey: ci.privateKey() })],
        ['claim rule: wrong namespace', ciToken({ namespace_path: 'other' })],
        ['CEL claim rule false', dex.token({ email_verified: false })],
        ['user validation rule false', dex.token({ email: 'banned@example.com' })],
        ['CEL runtime error (project_path missing)', ciToken({ project_path: undefined })],
        ['kubegate guard: system: user', dex.token({ email: 'system:admin' })],
      ]
      for (const [name, token] of cases) {
        const r = await call(await token)
        assert.equal(r.status, 401, name)
        assert.equal(JSON.parse(r.body).reason, 'Unauthorized', name)
      }
      assert.equal(apiserver.requests.length, before, 'nothing reached the apiserver')
    } finally {
      await other.close()
    }
  })
  it('real kubectl as the CEL-mapped CI user: whoami shows the extra, RBAC on the mapped group applies', async () => {
    const kubeconfig = await writeKubeconfig({ server: s.kg.url, caFile: s.caFile, token: await ciToken(), namespace: 'platform' })
    const who = await kubectl(['auth', 'whoami', '-o', 'json'], { kubeconfig })
    assert.equal(who.code, 0, who.stderr)
    const info = JSON.parse(who.stdout).status.userInfo
    assert.equal(info.username, 'ci:platform/web:main')
    assert.deepEqual(info.extra, { 'ci.example.com/pipeline': ['4711'] })
    const pods = await kubectl(['get', 'pods'], { kubeconfig })
    assert.equal(pods.code, 0, pods.stderr)
    const denied = await kubectl(['get', 'pods', '-n', 'default'], { kubeconfig })
    assert.notEqual(denied.code, 0)
    assert.match(denied.stderr, /User "ci:platform\/web:main" cannot list resource "pods"/)
  })
  it('/readyz reports each issuer', async () => {
    const r = await get(s.kg.metricsServer.url + '/readyz?verbose')
    for (const i of [dex, ci, tenant]) assert.match(r.text, new RegExp(`\\[\\+\\]oidc ${i.url.replace(/[.]/g, '\\.')} ok`))
  })
  it('reload on file change: a bad file is refused with a log line and a metric, the running issuers keep serving; a good one applies', async () => {
    const failures = async (): Promise<number> =>
      parseExposition((await get(s.kg.metricsServer.url + '/metrics')).text).value('kubegate_config_reloads_total', { result: 'failure' })
    const base = testConfigTree(dex, apiserver)
    const tree = {
      ...base,
      ...OVERRIDES,
      tls: { certFile: s.config.tls.certFile, privateKeyFile: s.config.tls.privateKeyFile },
      upstream: { ...(base.upstream as Record<string, unknown>), tokenRefreshSeconds: 3600, healthCheckSeconds: s.config.upstream.healthCheckSeconds },
    }
    reloader = createReloader({ kg: s.kg, initial: s.config, load: () => loadConfig({ overrides: tree, env: {} }), files: (c) => reloadableFiles(c, undefined), pollMs: 200, debounceMs: 50, logger: s.kg.logger })
    const failuresBefore = await failures()
    const logsBefore = s.logs.length
    writeFileSync(configFile, authenticationConfig({ withTenant: true }).replace("'ci:' + claims", "'ci:' + claim"))
    await until('the refusal to be logged', async () => s.logs.slice(logsBefore).some((l) => l.msg === 'configuration reload refused: invalid configuration; keeping the current one'))
    const refusal = s.logs.slice(logsBefore).find((l) => l.msg === 'configuration reload refused: invalid configuration; keeping the current one')
    assert.match(JSON.stringify(refusal?.problems), /jwt\[1\]\.claimMappings\.username\.expression: Invalid value: .*undeclared reference to 'claim'/)
    assert.equal(await failures(), failuresBefore + 1)
    assert.equal((await call(await dex.token({ groups: ['dev'] }))).status, 200, 'the running configuration stays')
    assert.equal((await call(await tenant.token({ sub: 't-1' }))).status, 200)

    writeFileSync(configFile, authenticationConfig({ withTenant: false }))
    await until('the issuer removed by the new file to be refused', async () => (await call(await tenant.token({ sub: 't-2' }))).status === 401)
    assert.equal((await call(await ciToken())).status, 200)
    const r = await get(s.kg.metricsServer.url + '/readyz?verbose')
    assert.doesNotMatch(r.text, /tenant/)
  })
})

import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { promisify } from 'node:util'
import { parse } from 'yaml'
import { runKubeconfigCommand } from '../../../src/web/cli.js'
import { buildKubeconfig, kubeloginArgs } from '../../../src/web/kubeconfig.js'
import { kubectlOnPath } from '../../helpers/kubectl.js'
import { createTempDir, getTestPki } from '../../helpers/pki.js'

const run = promisify(execFile)
const dir = createTempDir('kubegate-kubeconfig-')
let n = 0

/** Has kubectl load the file and print it back as JSON (`config view` works offline). */
async function kubectlView (yamlText: string): Promise<Record<string, any>> {
  const file = join(dir, `kc-${++n}.yaml`)
  await writeFile(file, yamlText, { mode: 0o600 })
  const { stdout } = await run(kubectlOnPath(), ['config', 'view', '--kubeconfig', file, '--raw', '-o', 'json'], {
    timeout: 20_000,
    env: { PATH: '/usr/bin:/bin', HOME: dir },
  })
  return JSON.parse(stdout) as Record<string, any>
}

const ISSUER = 'https://dex.example.edu'

describe('kubeconfig builder', () => {
  it('kubelogin form: kubectl loads it with the exec plugin, CA data, namespace and current context', async () => {
    const pki = await getTestPki()
    const text = buildKubeconfig({
      server: 'https://k8s.example.edu:8443/',
      caPem: pki.caPem,
      namespace: 'user01',
      credential: { kind: 'kubelogin', issuerUrl: ISSUER, clientId: 'kubegate', extraScopes: ['openid', 'email', 'groups'], issuerCaPem: pki.caPem },
    })
    const view = await kubectlView(text)
    assert.equal(view['current-context'], 'k8s.example.edu-oidc')
    const cluster = view.clusters[0].cluster
    assert.equal(cluster.server, 'https://k8s.example.edu:8443')
    assert.equal(Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8'), pki.caPem)
    assert.equal(view.contexts[0].context.namespace, 'user01')
    assert.equal(view.contexts[0].context.user, 'k8s.example.edu-oidc')
    const exec = view.users[0].user.exec
    assert.equal(exec.apiVersion, 'client.authentication.k8s.io/v1')
    assert.equal(exec.command, 'kubectl')
    assert.deepEqual(exec.args.slice(0, 6), [
      'oidc-login', 'get-token', `--oidc-issuer-url=${ISSUER}`, '--oidc-client-id=kubegate',
      '--oidc-extra-scope=email', '--oidc-extra-scope=groups',
    ])
    assert.equal(exec.args[6], `--certificate-authority-data=${Buffer.from(pki.caPem).toString('base64')}`)
    assert.equal(exec.interactiveMode, 'IfAvailable')
    assert.ok(!text.includes('client-secret'))
  })

  it('static token form: kubectl loads the token as is', async () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'
    const text = buildKubeconfig({ server: 'https://127.0.0.1:8443', credential: { kind: 'token', token } })
    const view = await kubectlView(text)
    assert.equal(view.users[0].user.token, token)
    assert.equal(view.users[0].name, '127.0.0.1-token')
    assert.equal(view.clusters[0].cluster['certificate-authority-data'], undefined)
    assert.equal(view.contexts[0].context.namespace, undefined)
  })

  it('the check can fail: kubectl refuses a broken kubeconfig', async () => {
    await assert.rejects(kubectlView('apiVersion: v1\nkind: Config\nclusters: {not: [a list\n'))
  })

  it('IPv6 servers get a usable cluster name', () => {
    const doc = parse(buildKubeconfig({ server: 'https://[::1]:8443', credential: { kind: 'token', token: 't' } })) as Record<string, any>
    assert.equal(doc.clusters[0].name, '::1')
  })

  it('the client secret appears only when given', () => {
    const base = { kind: 'kubelogin' as const, issuerUrl: ISSUER, clientId: 'kubegate' }
    assert.ok(!kubeloginArgs(base).some((a) => a.includes('secret')))
    assert.ok(kubeloginArgs({ ...base, clientSecret: 's3cret' }).includes('--oidc-client-secret=s3cret'))
  })
})

describe('kubegate kubeconfig CLI', () => {
  function io (): { out: string[], err: string[], io: Parameters<typeof runKubeconfigCommand>[1] } {
    const out: string[] = []
    const err: string[] = []
    return { out, err, io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } } }
  }

  it('prints the exec-plugin form with the namespace from the email', async () => {
    const pki = await getTestPki()
    const t = io()
    const code = await runKubeconfigCommand(['--public-url', 'https://k8s.example.edu', '--issuer', ISSUER, '--client-id', 'kubegate',
      '--ca-file', pki.caFile, '--user-namespace-from-email', '--email', 'user01@example.com'], t.io)
    assert.equal(code, 0, t.err.join(''))
    const doc = parse(t.out.join('')) as Record<string, any>
    assert.equal(doc.contexts[0].context.namespace, 'user01')
    assert.equal(Buffer.from(doc.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), pki.caPem)
    assert.deepEqual(doc.users[0].user.exec.args.slice(0, 4), ['oidc-login', 'get-token', `--oidc-issuer-url=${ISSUER}`, '--oidc-client-id=kubegate'])
    assert.equal((await kubectlView(t.out.join(''))).contexts[0].context.namespace, 'user01')
  })

  it('refuses missing and non-https URLs, and unknown flags, with exit code 2', async () => {
    for (const argv of [
      ['--issuer', ISSUER, '--client-id', 'kubegate'],
      ['--public-url', 'http://k8s.example.edu', '--issuer', ISSUER, '--client-id', 'kubegate'],
      ['--public-url', 'https://k8s.example.edu', '--issuer', ISSUER, '--client-id', 'kubegate', '--bogus'],
      ['--public-url', 'https://k8s.example.edu', '--issuer', ISSUER, '--client-id', 'kubegate', '--user-namespace-from-email'],
    ]) {
      const t = io()
      assert.equal(await runKubeconfigCommand(argv, t.io), 2, argv.join(' '))
      assert.equal(t.out.join(''), '')
    }
  })
})

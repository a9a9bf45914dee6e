/**
 * `npm run demo`: kubegate's main job on one machine, with nothing to configure.
 *
 * Starts, on loopback only: a Dex-shaped OIDC issuer and a kube-apiserver double (both LOCAL STAND-INS from
 * test/helpers, with a tutorial-style RBAC table: user01@example.com may manage pods and services in
 * namespace user01, nothing else), and the real kubegate between them. Then it mints an ID token for
 * user01, writes a kubeconfig pointing at kubegate, and runs the real kubectl.
 */
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { startStack } from '../test/helpers/stack.js'
import { kubectl, writeKubeconfig, KUBECTL } from '../test/helpers/kubectl.js'

const bold = (s: string): string => process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s
const dim = (s: string): string => process.stdout.isTTY ? `\x1b[2m${s}\x1b[0m` : s

async function main (): Promise<number> {
  if (!existsSync(KUBECTL)) {
    process.stderr.write(`kubectl not found at ${KUBECTL}; install kubectl to run the demo\n`)
    return 1
  }
  process.stdout.write(bold('kubegate demo') + dim(' — the issuer and the apiserver are local stand-ins, kubegate and kubectl are real\n\n'))
  const stack = await startStack({ config: { log: { level: 'silent' } } })
  try {
    const { issuer, apiserver, kg } = stack
    process.stdout.write(`  issuer (stand-in for Dex):        ${issuer.url}\n`)
    process.stdout.write(`  apiserver (stand-in, RBAC table): ${apiserver.url}\n`)
    process.stdout.write(`  kubegate:                         ${kg.url}  ${dim('(TLS with a throwaway demo CA)')}\n\n`)

    const token = await issuer.token({ email: 'user01@example.com', groups: ['students', 'class-2026'], name: 'User One' })
    const kubeconfig = await writeKubeconfig({ server: kg.url, caFile: stack.caFile, token, namespace: 'user01' })
    apiserver.addPod('user01', 'hello-web')

    const run = async (title: string, args: string[], kc = kubeconfig): Promise<void> => {
      process.stdout.write(bold(`$ kubectl ${args.join(' ')}`) + dim(`   # ${title}\n`))
      const r = await kubectl(args, { kubeconfig: kc, timeoutMs: 30_000 })
      const out = (r.stdout + r.stderr).trimEnd()
      process.stdout.write(out.split('\n').map((l) => '  ' + l).join('\n') + `\n  ${dim(`(exit ${String(r.code)})`)}\n\n`)
    }
    await run('who am I, as the apiserver sees it', ['auth', 'whoami'])
    await run('allowed: pods in my own namespace', ['-n', 'user01', 'get', 'pods'])
    await run('denied by RBAC: the apiserver\'s Forbidden, unchanged', ['get', 'nodes'])
    const expired = await issuer.token({
      email: 'user01@example.com',
      iat: Math.floor(Date.now() / 1000) - 7200,
      exp: Math.floor(Date.now() / 1000) - 3600,
    })
    await run('an expired token: 401, so credential plugins refresh', ['get', 'pods'], await writeKubeconfig({ server: kg.url, caFile: stack.caFile, token: expired }))

    const seen = apiserver.requests.filter((r) => r.identity !== undefined).length
    process.stdout.write(dim(`The apiserver double received ${seen} requests, each with kubegate's service-account token and\n` +
      'Impersonate-User/Impersonate-Group headers built from the verified token; the expired one never reached it.\n'))
    try {
      process.stdout.write(dim(`kubectl: ${execFileSync('/usr/bin/kubectl', ['version', '--client'], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } }).split('\n')[0] ?? ''}\n`))
    } catch { /* the dispatcher may need a server; the version line is a nicety */ }
  } finally {
    await stack.close()
  }
  return 0
}

main().then((code) => { process.exitCode = code }, (err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
  process.exitCode = 1
})

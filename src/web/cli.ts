// `kubegate kubeconfig`: prints a kubeconfig that reaches the cluster through kubegate with kubelogin.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { deriveNamespaceName } from '../classroom/names.js'
import { buildKubeconfig } from './kubeconfig.js'

export const KUBECONFIG_USAGE = `Usage: kubegate kubeconfig --public-url URL --issuer URL --client-id ID [options]

Prints a kubeconfig that reaches the cluster through kubegate and gets tokens with kubelogin
(kubectl oidc-login; install it with: kubectl krew install oidc-login).

  --public-url URL              kubegate's external URL (the kubeconfig's server)
  --issuer URL                  OIDC issuer URL (oidc.issuerUrl)
  --client-id ID                OIDC client id (oidc.clientId)
  --ca-file FILE                CA of kubegate's serving certificate (certificate-authority-data)
  --issuer-ca-file FILE         CA of the issuer, for kubelogin (when not publicly trusted)
  --scopes a,b                  scopes besides openid (default: email,groups,profile)
  --client-secret-file FILE     put the client secret into the kubeconfig (shared with every user!)
  --namespace NS                the context's namespace
  --user-namespace-from-email   namespace from the local part of --email (user01@example.com -> user01)
  --email ADDRESS               the user's email, for --user-namespace-from-email
  --cluster-name NAME           name of the cluster entry (default: the public URL's host)`

export interface CliIo {
  readonly stdout: { write: (s: string) => unknown }
  readonly stderr: { write: (s: string) => unknown }
}

function httpsUrl (value: string | undefined, flag: string, problems: string[]): string | undefined {
  if (value === undefined) {
    problems.push(`${flag}: required`)
    return undefined
  }
  try {
    const u = new URL(value)
    if (u.protocol !== 'https:') problems.push(`${flag}: must use https`)
  } catch {
    problems.push(`${flag}: not a URL`)
  }
  return value
}

function readFile (file: string | undefined, flag: string, problems: string[]): string | undefined {
  if (file === undefined) return undefined
  try {
    return readFileSync(file, 'utf8')
  } catch (err) {
    problems.push(`${flag}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    return undefined
  }
}

/** `kubegate kubeconfig ...`: prints the kubelogin (exec plugin) kubeconfig. Returns the exit code. */
export async function runKubeconfigCommand (argv: string[], io: CliIo): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'public-url': { type: 'string' },
        issuer: { type: 'string' },
        'client-id': { type: 'string' },
        'ca-file': { type: 'string' },
        'issuer-ca-file': { type: 'string' },
        scopes: { type: 'string' },
        'client-secret-file': { type: 'string' },
        namespace: { type: 'string' },
        'user-namespace-from-email': { type: 'boolean' },
        email: { type: 'string' },
        'cluster-name': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    io.stderr.write(`${err instanceof Error ? err.message : String(err)}\n\n${KUBECONFIG_USAGE}\n`)
    return 2
  }
  if (values.help === true) {
    io.stdout.write(KUBECONFIG_USAGE + '\n')
    return 0
  }
  const problems: string[] = []
  const server = httpsUrl(values['public-url'], '--public-url', problems)
  const issuer = httpsUrl(values.issuer, '--issuer', problems)
  const clientId = values['client-id']
  if (clientId === undefined || clientId.trim() === '') problems.push('--client-id: required')
  let namespace = values.namespace
  if (values['user-namespace-from-email'] === true) {
    if (values.email === undefined || !values.email.includes('@')) problems.push('--user-namespace-from-email: needs --email with an address')
    else if (namespace !== undefined) problems.push('--namespace and --user-namespace-from-email exclude each other')
    else namespace = deriveNamespaceName(values.email).name
  } else if (values.email !== undefined) {
    problems.push('--email: only used with --user-namespace-from-email')
  }
  const caPem = readFile(values['ca-file'], '--ca-file', problems)
  const issuerCaPem = readFile(values['issuer-ca-file'], '--issuer-ca-file', problems)
  const secret = readFile(values['client-secret-file'], '--client-secret-file', problems)?.replace(/\r?\n$/, '')
  const extraScopes = (values.scopes ?? 'email,groups,profile').split(',').map((s) => s.trim()).filter((s) => s !== '' && s !== 'openid')
  if (problems.length > 0 || server === undefined || issuer === undefined || clientId === undefined) {
    io.stderr.write(problems.join('\n') + '\n\n' + KUBECONFIG_USAGE + '\n')
    return 2
  }
  io.stdout.write(buildKubeconfig({
    server,
    caPem,
    namespace,
    clusterName: values['cluster-name'],
    credential: { kind: 'kubelogin', issuerUrl: issuer, clientId, clientSecret: secret, extraScopes, issuerCaPem },
  }))
  return 0
}

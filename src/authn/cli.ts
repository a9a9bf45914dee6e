// `kubegate rbac`: prints the ClusterRole and binding kubegate's ServiceAccount needs for the configured issuers (impersonation of users, groups, uids and exactly the mapped extra keys).
import { ConfigError, loadConfig } from '../config/load.js'
import { AuthenticationConfigError } from './field-error.js'
import { loadAuthentication } from './from-config.js'
import type { LoadedAuthentication } from './load.js'
import { renderImpersonationRbac } from './rbac.js'

export interface RbacIo {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly env?: Readonly<Record<string, string | undefined>>
}

export const RBAC_USAGE = `Usage: kubegate rbac [--namespace NS] [--service-account NAME] [--name ROLE] [kubegate settings]

Prints the ClusterRole and ClusterRoleBinding kubegate's ServiceAccount needs, for \`kubectl apply -f -\`:
impersonate users and groups, uids when a uid is mapped, and userextras/<key> for exactly the extra keys of
the authentication configuration (never userextras/*).

The issuers come from the same settings as the proxy: --authentication-config FILE, or --config FILE and the
--oidc-* flags.

Options:
  --namespace NS           namespace of kubegate's ServiceAccount (default kubegate)
  --service-account NAME   its name (default kubegate)
  --name ROLE              name of the ClusterRole and binding (default kubegate-impersonator)`

function loadIssuers (settings: string[], env: Readonly<Record<string, string | undefined>>): LoadedAuthentication {
  return loadAuthentication(loadConfig({ argv: settings, env }))
}

const OWN_FLAGS = new Set(['namespace', 'service-account', 'name'])

/** Splits this command's own flags from the kubegate settings (which go to loadConfig unchanged). */
function splitArgs (argv: readonly string[]): { own: Map<string, string>, settings: string[], problems: string[] } {
  const own = new Map<string, string>()
  const settings: string[] = []
  const problems: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    const eq = arg.indexOf('=')
    const name = arg.startsWith('--') ? arg.slice(2, eq === -1 ? undefined : eq) : ''
    if (!OWN_FLAGS.has(name)) {
      settings.push(arg)
      continue
    }
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1)
    if (value === undefined || value === '') problems.push(`--${name}: needs a value`)
    else own.set(name, value)
  }
  return { own, settings, problems }
}

/** Exit codes: 0 printed, 1 the configuration has problems (all listed), 2 the command line is wrong. */
export async function runRbacCommand (argv: string[], io: RbacIo): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(RBAC_USAGE + '\n')
    return 0
  }
  const { own, settings, problems } = splitArgs(argv)
  if (problems.length > 0) {
    io.stderr.write(`${problems.join('\n')}\n\n${RBAC_USAGE}\n`)
    return 2
  }
  try {
    const auth = loadIssuers(settings, io.env ?? {})
    io.stdout.write(renderImpersonationRbac(auth, { namespace: own.get('namespace'), serviceAccount: own.get('service-account'), name: own.get('name') }))
    return 0
  } catch (err) {
    if (err instanceof ConfigError || err instanceof AuthenticationConfigError) {
      io.stderr.write(err.message + '\n')
      return 1
    }
    throw err
  }
}

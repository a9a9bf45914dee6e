// Renders the kubeconfigs the login page and `kubegate kubeconfig` hand out (kubelogin exec plugin or a short-lived static token).
import { stringify } from 'yaml'

/** The client-go exec credential plugin int128/kubelogin (`kubectl oidc-login get-token`). */
export interface KubeloginCredential {
  readonly kind: 'kubelogin'
  readonly issuerUrl: string
  readonly clientId: string
  /** Only when the admin enabled it: a secret in a kubeconfig is shared with every user who gets one. */
  readonly clientSecret?: string | undefined
  /** Scopes besides `openid` (kubelogin always asks for `openid`). */
  readonly extraScopes?: readonly string[]
  /** PEM CA of the issuer, for kubelogin's own TLS to it (when the issuer is not publicly trusted). */
  readonly issuerCaPem?: string | undefined
}

/** A bearer token (the ID token itself): works with plain kubectl until it expires. */
export interface StaticTokenCredential {
  readonly kind: 'token'
  readonly token: string
}

export interface KubeconfigSpec {
  /** kubegate's external URL (`login.publicUrl`). */
  readonly server: string
  /** PEM CA bundle for kubegate's serving certificate; omitted when the certificate is publicly trusted. */
  readonly caPem?: string | undefined
  /** Default: the server's host name. */
  readonly clusterName?: string
  readonly namespace?: string | undefined
  readonly credential: KubeloginCredential | StaticTokenCredential
}

/** kubelogin's arguments, in the order its README shows them. */
export function kubeloginArgs (c: KubeloginCredential): string[] {
  const args = ['oidc-login', 'get-token', `--oidc-issuer-url=${c.issuerUrl}`, `--oidc-client-id=${c.clientId}`]
  if (c.clientSecret !== undefined) args.push(`--oidc-client-secret=${c.clientSecret}`)
  for (const s of c.extraScopes ?? []) if (s !== 'openid') args.push(`--oidc-extra-scope=${s}`)
  if (c.issuerCaPem !== undefined) args.push(`--certificate-authority-data=${Buffer.from(c.issuerCaPem, 'utf8').toString('base64')}`)
  return args
}

/** Names of the kubeconfig entries for a spec (the two forms get different user and context names). */
export function kubeconfigNames (spec: Pick<KubeconfigSpec, 'server' | 'clusterName' | 'credential'>): { cluster: string, user: string, context: string } {
  const cluster = spec.clusterName ?? new URL(spec.server).hostname.replace(/^\[|\]$/g, '')
  const user = `${cluster}-${spec.credential.kind === 'token' ? 'token' : 'oidc'}`
  return { cluster, user, context: user }
}

/**
 * A complete kubeconfig (one cluster, user and context, current-context set) as YAML. Pure: no file or
 * network access, so the page, the CLI and the tests produce byte-identical output for the same input.
 */
export function buildKubeconfig (spec: KubeconfigSpec): string {
  const names = kubeconfigNames(spec)
  const cluster: Record<string, unknown> = { server: spec.server.replace(/\/+$/, '') }
  if (spec.caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(spec.caPem, 'utf8').toString('base64')
  const c = spec.credential
  const user: Record<string, unknown> = c.kind === 'token'
    ? { token: c.token }
    : {
        exec: {
          apiVersion: 'client.authentication.k8s.io/v1',
          command: 'kubectl',
          args: kubeloginArgs(c),
          // kubelogin opens a browser (or asks for the code on the terminal in its keyboard mode).
          interactiveMode: 'IfAvailable',
          provideClusterInfo: false,
        },
      }
  const context: Record<string, unknown> = { cluster: names.cluster, user: names.user }
  if (spec.namespace !== undefined) context.namespace = spec.namespace
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: names.cluster, cluster }],
    users: [{ name: names.user, user }],
    contexts: [{ name: names.context, context }],
    'current-context': names.context,
  }, { lineWidth: 0 })
}

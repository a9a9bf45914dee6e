// Resolves where requests go and with what credential: --upstream-* settings, a kubeconfig, or the in-cluster service account.
import { readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { isIP } from 'node:net'
import { parse as parseYaml } from 'yaml'
import type { Config } from '../config/load.js'

/** Where requests go and with what credential; scheme/host/port come from here only (invariant 4). */
export interface UpstreamTarget {
  /** `https://host:port` */
  readonly origin: string
  readonly host: string
  readonly port: number
  /** PEM CA bundle; undefined means the system roots. */
  readonly ca: string | undefined
  /** TLS server name to verify (undefined for IP literals without an override). */
  readonly servername: string | undefined
  /** Where the service-account token is read from (re-read as it rotates). */
  readonly tokenFile: string | undefined
  /** A static token from a kubeconfig (no file to re-read). */
  readonly staticToken: string | undefined
  readonly source: 'flags' | 'kubeconfig' | 'in-cluster'
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'

function fromUrl (server: string, ca: string | undefined, tlsServerName: string | undefined,
  tokenFile: string | undefined, staticToken: string | undefined, source: UpstreamTarget['source']): UpstreamTarget {
  const u = new URL(server)
  if (u.protocol !== 'https:') throw new Error(`upstream ${u.origin}: only https is allowed (the service-account token must travel over verified TLS)`)
  const host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
  return {
    origin: u.origin,
    host,
    port: u.port === '' ? 443 : Number(u.port),
    ca,
    servername: tlsServerName ?? (isIP(host) === 0 ? host : undefined),
    tokenFile,
    staticToken,
    source,
  }
}

interface KubeconfigCluster { server?: string, 'certificate-authority'?: string, 'certificate-authority-data'?: string, 'tls-server-name'?: string, 'insecure-skip-tls-verify'?: boolean }
interface KubeconfigUser { token?: string, tokenFile?: string }

/**
 * Resolves the apiserver from configuration: explicit server + CA + token file, a kubeconfig context, or
 * the in-cluster service account. Any mode that would skip TLS verification is refused.
 */
export function resolveUpstream (up: Config['upstream'], env: Readonly<Record<string, string | undefined>> = process.env): UpstreamTarget {
  const readCa = (file: string | undefined): string | undefined => file === undefined ? undefined : readFileSync(file, 'utf8')
  if (up.server !== undefined) {
    return fromUrl(up.server, readCa(up.caFile), up.tlsServerName, up.tokenFile, undefined, 'flags')
  }
  if (up.kubeconfig !== undefined) {
    const file = up.kubeconfig
    const kc = parseYaml(readFileSync(file, 'utf8')) as {
      'current-context'?: string
      contexts?: Array<{ name: string, context: { cluster: string, user: string } }>
      clusters?: Array<{ name: string, cluster: KubeconfigCluster }>
      users?: Array<{ name: string, user: KubeconfigUser }>
    }
    const ctxName = up.context ?? kc['current-context']
    const ctx = kc.contexts?.find((c) => c.name === ctxName)?.context
    if (ctx === undefined) throw new Error(`kubeconfig ${file}: context ${String(ctxName)} not found`)
    const cluster = kc.clusters?.find((c) => c.name === ctx.cluster)?.cluster
    const user = kc.users?.find((u) => u.name === ctx.user)?.user
    if (cluster?.server === undefined) throw new Error(`kubeconfig ${file}: cluster ${ctx.cluster} has no server`)
    if (cluster['insecure-skip-tls-verify'] === true) throw new Error(`kubeconfig ${file}: insecure-skip-tls-verify is refused`)
    const base = dirname(resolve(file))
    const ca = cluster['certificate-authority-data'] !== undefined
      ? Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
      : readCa(cluster['certificate-authority'] === undefined ? up.caFile : resolve(base, cluster['certificate-authority']))
    const tokenFile = user?.tokenFile !== undefined ? resolve(base, user.tokenFile) : up.tokenFile
    if (tokenFile === undefined && user?.token === undefined) {
      throw new Error(`kubeconfig ${file}: user ${ctx.user} has no token or tokenFile (client certificates are not supported for the upstream)`)
    }
    return fromUrl(cluster.server, ca, up.tlsServerName ?? cluster['tls-server-name'], tokenFile, tokenFile === undefined ? user?.token : undefined, 'kubeconfig')
  }
  const host = env.KUBERNETES_SERVICE_HOST
  const port = env.KUBERNETES_SERVICE_PORT
  if (host === undefined || port === undefined) {
    throw new Error('no upstream configured: set upstream.server (+ tokenFile), upstream.kubeconfig, or run in a cluster')
  }
  const h = isIP(host) === 6 ? `[${host}]` : host
  return fromUrl(`https://${h}:${port}`, readCa(up.caFile ?? `${SA_DIR}/ca.crt`), up.tlsServerName ?? 'kubernetes.default.svc',
    up.tokenFile ?? `${SA_DIR}/token`, undefined, 'in-cluster')
}

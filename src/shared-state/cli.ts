// `kubegate revoke` and `kubegate revocations list|delete`: the admin API from the command line.
import { readFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { homedir } from 'node:os'
import { delimiter, dirname, isAbsolute, join } from 'node:path'
import { parse } from 'yaml'
import { REVOCATIONS_PATH, type RevocationJson } from './admin-api.js'

export interface CliIo {
  readonly stdout: NodeJS.WritableStream
  readonly stderr: NodeJS.WritableStream
  readonly env?: Readonly<Record<string, string | undefined>>
}

const USAGE = `Usage:
  kubegate revoke (--user NAME | --sub SUB | --token-hash SHA256) [--reason TEXT] [connection flags]
  kubegate revocations list [connection flags]
  kubegate revocations delete (--user NAME | --sub SUB | --token-hash SHA256) [connection flags]

Connection flags (default: the current kubeconfig context, which should point at kubegate):
  --server URL         kubegate's URL
  --token-file FILE    file holding an admin's ID token (default: the kubeconfig user's token)
  --ca-file FILE       CA bundle for kubegate's certificate
  --kubeconfig FILE    kubeconfig to read (default: $KUBECONFIG, then ~/.kube/config)
`

interface Flags { [k: string]: string | undefined }

const KNOWN = new Set(['user', 'sub', 'token-hash', 'reason', 'server', 'token-file', 'ca-file', 'kubeconfig'])

function parseFlags (argv: readonly string[]): Flags | string {
  const out: Flags = {}
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (!a.startsWith('--')) return `unexpected argument ${a}`
    const eq = a.indexOf('=')
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq)
    if (!KNOWN.has(name)) return `unknown flag --${name}`
    const value = eq === -1 ? argv[++i] : a.slice(eq + 1)
    if (value === undefined) return `--${name} needs a value`
    out[name] = value
  }
  return out
}

interface Connection { server: string, token: string, ca: string | undefined }

/** Server, token and CA from flags, falling back to the current kubeconfig context. */
export function resolveConnection (flags: Flags, env: Readonly<Record<string, string | undefined>>): Connection {
  const kcPath = flags.kubeconfig ?? env.KUBECONFIG?.split(delimiter).find((p) => p !== '') ?? join(env.HOME ?? homedir(), '.kube', 'config')
  let kc: Record<string, unknown> | undefined
  const needKubeconfig = flags.server === undefined || flags['token-file'] === undefined
  if (needKubeconfig) {
    try {
      kc = parse(readFileSync(kcPath, 'utf8')) as Record<string, unknown>
    } catch (err) {
      throw new Error(`cannot read kubeconfig ${kcPath} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give --server and --token-file`)
    }
  }
  const named = (list: unknown, name: unknown): Record<string, unknown> | undefined => {
    if (!Array.isArray(list)) return undefined
    const e = list.find((x: unknown) => typeof x === 'object' && x !== null && (x as { name?: unknown }).name === name) as Record<string, unknown> | undefined
    return e
  }
  const resolvePath = (p: string): string => isAbsolute(p) ? p : join(dirname(kcPath), p)
  const ctx = kc === undefined ? undefined : named(kc.contexts, kc['current-context'])?.context as Record<string, unknown> | undefined
  const cluster = ctx === undefined ? undefined : named(kc?.clusters, ctx.cluster)?.cluster as Record<string, unknown> | undefined
  const user = ctx === undefined ? undefined : named(kc?.users, ctx.user)?.user as Record<string, unknown> | undefined

  let server = flags.server
  let ca = flags['ca-file'] === undefined ? undefined : readFileSync(flags['ca-file'], 'utf8')
  if (server === undefined) {
    if (typeof cluster?.server !== 'string') throw new Error('no --server and no server in the current kubeconfig context')
    server = cluster.server
    if (ca === undefined && typeof cluster['certificate-authority-data'] === 'string') ca = Buffer.from(cluster['certificate-authority-data'], 'base64').toString('utf8')
    else if (ca === undefined && typeof cluster['certificate-authority'] === 'string') ca = readFileSync(resolvePath(cluster['certificate-authority']), 'utf8')
  }
  let token: string | undefined
  if (flags['token-file'] !== undefined) token = readFileSync(flags['token-file'], 'utf8').trim()
  else if (typeof user?.token === 'string') token = user.token
  else if (typeof user?.tokenFile === 'string') token = readFileSync(resolvePath(user.tokenFile), 'utf8').trim()
  if (token === undefined || token === '') {
    throw new Error('no token: give --token-file (kubeconfig users with an exec plugin or auth-provider are not read; run `kubectl` once and pass its token file)')
  }
  return { server: server.replace(/\/+$/, ''), token, ca }
}

function send (c: Connection, method: string, path: string, body?: unknown): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(c.server + path)
    const payload = body === undefined ? undefined : JSON.stringify(body)
    const headers: Record<string, string> = { authorization: `Bearer ${c.token}`, accept: 'application/json' }
    if (payload !== undefined) headers['content-type'] = 'application/json'
    const opts = { method, headers, timeout: 15_000, ...(c.ca !== undefined ? { ca: c.ca } : {}) }
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, opts, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }))
      res.on('error', reject)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', reject)
    req.end(payload)
  })
}

function target (flags: Flags): { field: 'user' | 'sub' | 'tokenHash', value: string } | string {
  const given = (['user', 'sub', 'token-hash'] as const).filter((k) => flags[k] !== undefined)
  if (given.length !== 1) return 'give exactly one of --user, --sub, --token-hash'
  const k = given[0] as 'user' | 'sub' | 'token-hash'
  return { field: k === 'token-hash' ? 'tokenHash' : k, value: flags[k] as string }
}

function failure (io: CliIo, r: { status: number, text: string }): number {
  let msg = r.text
  try {
    const s = JSON.parse(r.text) as { message?: unknown }
    if (typeof s.message === 'string') msg = s.message
  } catch { /* not JSON */ }
  io.stderr.write(`error: ${r.status} ${msg}\n`)
  return 1
}

/**
 * What `kubegate revoke` prints: when the revocation was made and, for a user or `sub`, from when a new
 * token is accepted again (the revocation time plus the issuer clock skew the server allows).
 */
export function describeRevocation (rec: RevocationJson): string {
  const kept = `the revocation is kept until ${rec.expiresAt}`
  if (rec.kind === 'token') return `revoked token ${rec.value} at ${rec.revokedAt}: that token is refused; ${kept}`
  const after = rec.acceptsTokensIssuedAfter
  if (after === undefined) {
    // A server that does not say: the revocation time plus its oidc.clockSkewSeconds.
    return `revoked ${rec.kind} ${rec.value} at ${rec.revokedAt}: tokens issued up to that time plus the server's allowed clock skew are refused; ${kept}`
  }
  return `revoked ${rec.kind} ${rec.value} at ${rec.revokedAt}: tokens issued up to ${after} are refused, ` +
    `a token issued after ${after} is accepted (sign in again after ${after}); ${kept}`
}

/** `kubegate revoke ...` and `kubegate revocations list|delete ...` against the admin API. */
export async function runRevocationCommand (command: 'revoke' | 'revocations', argv: readonly string[], io: CliIo): Promise<number> {
  let sub = command === 'revoke' ? 'add' : argv[0]
  const rest = command === 'revoke' ? argv : argv.slice(1)
  if (sub === 'help' || sub === '--help' || rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(USAGE)
    return 0
  }
  if (sub !== 'add' && sub !== 'list' && sub !== 'delete') {
    io.stderr.write(USAGE)
    return 2
  }
  const flags = parseFlags(rest)
  if (typeof flags === 'string') {
    io.stderr.write(`error: ${flags}\n\n${USAGE}`)
    return 2
  }
  let conn: Connection
  try {
    conn = resolveConnection(flags, io.env ?? process.env)
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n`)
    return 2
  }
  try {
    if (sub === 'list') {
      const r = await send(conn, 'GET', REVOCATIONS_PATH)
      if (r.status !== 200) return failure(io, r)
      const items = (JSON.parse(r.text) as { items: RevocationJson[] }).items
      const rows = [['KIND', 'VALUE', 'REVOKED', 'EXPIRES', 'BY', 'REASON'],
        ...items.map((i) => [i.kind, i.value, i.revokedAt, i.expiresAt, i.by, i.reason ?? ''])]
      const widths = rows[0]?.map((_, c) => Math.max(...rows.map((row) => (row[c] ?? '').length))) ?? []
      for (const row of rows) io.stdout.write(row.map((v, c) => c === row.length - 1 ? v : v.padEnd((widths[c] ?? 0) + 2)).join('').trimEnd() + '\n')
      return 0
    }
    const t = target(flags)
    if (typeof t === 'string') {
      io.stderr.write(`error: ${t}\n`)
      return 2
    }
    if (sub === 'add') {
      const r = await send(conn, 'POST', REVOCATIONS_PATH, { [t.field]: t.value, ...(flags.reason !== undefined ? { reason: flags.reason } : {}) })
      if (r.status !== 201) return failure(io, r)
      const rec = JSON.parse(r.text) as RevocationJson
      io.stdout.write(describeRevocation(rec) + '\n')
      return 0
    }
    sub = 'delete'
    const r = await send(conn, 'DELETE', `${REVOCATIONS_PATH}?${t.field}=${encodeURIComponent(t.value)}`)
    if (r.status !== 200) return failure(io, r)
    io.stdout.write(`revocation of ${t.field === 'tokenHash' ? 'token' : t.field} ${t.value} deleted\n`)
    return 0
  } catch (err) {
    io.stderr.write(`error: ${conn.server}: ${(err as Error).message}\n`)
    return 1
  }
}

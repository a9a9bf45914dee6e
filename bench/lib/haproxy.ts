/** HAProxy (Debian's haproxy 2.6) as a reference proxy: its config from bench/haproxy.cfg.in, started in the foreground. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import { join } from 'node:path'
import { BENCH_DIR } from './procs.js'

export const HAPROXY = '/usr/sbin/haproxy'

export interface HaproxyOptions {
  /** Where the filled-in config, the key and the certificate go (the bench's temp dir). */
  readonly dir: string
  readonly port: number
  readonly upstreamPort: number
  /** CA of the upstream's certificate (verified, host name `localhost`). */
  readonly caFile: string
  readonly issuer: string
  readonly audience: string
  /** The issuer's RS256 public key, SPKI PEM. */
  readonly publicKeyPem: string
  /** The token HAProxy sends upstream in place of the client's (the bench's fake service account). */
  readonly serviceAccountToken: string
  /** Serve TLS with this certificate and key (kubegate's in the bench), or plain HTTP when absent. */
  readonly tls?: { readonly certFile: string, readonly keyFile: string }
}

export interface Haproxy {
  readonly url: string
  readonly pid: number
  readonly configFile: string
  stop: () => Promise<void>
}

/**
 * Makes sure Debian's haproxy is there: installs it with apt-get when missing and running as root (as .ci/run
 * does), otherwise says what to install. Returns the binary's version line.
 */
export function ensureHaproxy (log: (s: string) => void): string {
  if (!existsSync(HAPROXY)) {
    if (process.getuid?.() !== 0) throw new Error(`${HAPROXY} missing: apt-get install haproxy (bench/README.md, targets)`)
    log('bench: installing haproxy (apt-get)')
    execFileSync('apt-get', ['install', '-y', '-qq', 'haproxy'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }, timeout: 300_000 })
  }
  return execFileSync(HAPROXY, ['-v'], { encoding: 'utf8' }).split('\n')[0] ?? ''
}

/** Fills the template; the result is checked with `haproxy -c` before use. */
export function writeHaproxyConfig (o: HaproxyOptions): string {
  const keyFile = join(o.dir, 'haproxy-issuer-key.pem')
  writeFileSync(keyFile, o.publicKeyPem)
  let bindTls = ''
  if (o.tls !== undefined) {
    // HAProxy wants the certificate and its key in one file.
    const pem = join(o.dir, 'haproxy-serving.pem')
    writeFileSync(pem, readFileSync(o.tls.certFile, 'utf8') + readFileSync(o.tls.keyFile, 'utf8'), { mode: 0o600 })
    bindTls = `ssl crt ${pem} alpn http/1.1`
  }
  const fields: Record<string, string> = {
    PORT: String(o.port),
    BIND_TLS: bindTls,
    KEY_FILE: keyFile,
    ISSUER: o.issuer,
    AUDIENCE: o.audience,
    SA_TOKEN: o.serviceAccountToken,
    UPSTREAM_PORT: String(o.upstreamPort),
    CA_FILE: o.caFile,
  }
  const text = readFileSync(BENCH_DIR + 'haproxy.cfg.in', 'utf8').replace(/@@([A-Z_]+)@@/g, (_, k: string) => {
    const v = fields[k]
    if (v === undefined) throw new Error(`haproxy.cfg.in: unknown field ${k}`)
    if (/[\s"'#]/.test(v) && k !== 'BIND_TLS') throw new Error(`haproxy.cfg.in: ${k} must be one word`)
    return v
  })
  const file = join(o.dir, 'haproxy.cfg')
  writeFileSync(file, text)
  execFileSync(HAPROXY, ['-c', '-q', '-f', file], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 })
  return file
}

function portOpen (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}

/** Starts haproxy in the foreground (`-db`) and waits (bounded) until it accepts connections. */
export async function startHaproxy (o: HaproxyOptions): Promise<Haproxy> {
  const configFile = writeHaproxyConfig(o)
  const proc: ChildProcess = spawn(HAPROXY, ['-db', '-f', configFile], { stdio: ['ignore', 'ignore', 'inherit'] })
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
  const deadline = Date.now() + 10_000
  while (!(await portOpen(o.port))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL')
      throw new Error(`haproxy did not start (exit ${String(proc.exitCode)})`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `${o.tls === undefined ? 'http' : 'https'}://127.0.0.1:${o.port}`,
    pid: proc.pid as number,
    configFile,
    async stop () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      // SIGUSR1 is HAProxy's soft stop; SIGTERM stops at once, which is what a bench wants.
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
}

/** The status HAProxy answers one GET with this bearer token (fresh connection): the refusal check before a run. */
export function statusFor (url: string, path: string, token: string, caPem: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const u = new URL(url + path)
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { headers: { authorization: `Bearer ${token}` }, ca: caPem, agent: false, timeout: 10_000 }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode ?? 0))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end()
  })
}

/**
 * Starts the whole chain on loopback for integration tests: the Dex-shaped test issuer, the apiserver
 * double, and kubegate itself (in-process, real listener, real config loader), with kubegate's log lines
 * captured so tests can assert on them (and the token-leak test can grep them).
 */
import { Writable } from 'node:stream'
import { loadConfig, type Config } from '../../src/config/load.js'
import { createLogger } from '../../src/log/logger.js'
import { start, type Kubegate, type StartOptions } from '../../src/main.js'
import { startApiServer, type ApiServerDouble, type ApiServerOptions } from './apiserver.js'
import { startTestIssuer, type TestIssuer, type TestIssuerOptions } from './issuer.js'
import { getTestPki, issueServerCert } from './pki.js'

/** Every log line any stack wrote in this process (for the leak test). */
export const allLogLines: string[] = []

export interface Stack {
  /** CA file that signed kubegate's serving certificate (for kubeconfigs and clients). */
  caFile: string
  caPem: string
  issuer: TestIssuer
  apiserver: ApiServerDouble
  kg: Kubegate
  config: Config
  /** kubegate's log lines of this stack, parsed. */
  logs: Array<Record<string, unknown>>
  close: () => Promise<void>
}

export interface StackOptions {
  /** Config tree merged over the test defaults (docs/security.md's test defaults). */
  config?: Record<string, unknown>
  issuer?: TestIssuerOptions
  apiserver?: ApiServerOptions
  start?: StartOptions
  /**
   * Serve plain HTTP instead of TLS. Note that kubectl (client-go) never sends a bearer token over plain
   * HTTP (kubernetes/kubectl#744), so kubectl tests need the default TLS listener.
   */
  plainHttp?: boolean
  /** Reuse running peers (e.g. two kubegates sharing one apiserver). */
  peers?: { issuer: TestIssuer, apiserver: ApiServerDouble }
}

function merge (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof prev === 'object' && prev !== null && !Array.isArray(prev)
      ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
      : v
  }
  return out
}

/** The tree docs/security.md calls the test defaults, pointed at the given peers. */
export function testConfigTree (issuer: TestIssuer, apiserver: ApiServerDouble): Record<string, unknown> {
  return {
    listen: '127.0.0.1:0',
    metrics: { listen: '127.0.0.1:0' },
    oidc: {
      issuerUrl: issuer.url,
      clientId: 'kubegate',
      caFile: issuer.caFile,
      usernameClaim: 'email',
      groupsClaim: 'groups',
      signingAlgs: ['RS256'],
      clockSkewSeconds: 60,
    },
    // Health probes (GET /readyz with kubegate's token) hourly rather than every 10 s: tests that count what
    // the apiserver double saw ("zero upstream") would otherwise see a probe that happened to land in their
    // window on a loaded machine. Tests of the probe itself set their own interval.
    upstream: { server: apiserver.url, caFile: apiserver.caFile, tokenFile: apiserver.tokenFile, healthCheckSeconds: 3600 },
    log: { level: 'debug' },
  }
}

export async function startStack (options: StackOptions = {}): Promise<Stack> {
  const pki = await getTestPki()
  const ownPeers = options.peers === undefined
  const issuer = options.peers?.issuer ?? await startTestIssuer({ pki, ...options.issuer })
  const apiserver = options.peers?.apiserver ?? await startApiServer({ pki, ...options.apiserver })
  const base = testConfigTree(issuer, apiserver)
  if (options.plainHttp !== true) {
    const cert = await issueServerCert(pki, 'kubegate')
    base.tls = { certFile: cert.certFile, privateKeyFile: cert.keyFile }
  }
  const tree = merge(base, options.config ?? {})
  const config = loadConfig({ overrides: tree, env: {} })
  const logs: Array<Record<string, unknown>> = []
  const sink = new Writable({
    write (chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line === '') continue
        allLogLines.push(line)
        try {
          logs.push(JSON.parse(line) as Record<string, unknown>)
        } catch {
          logs.push({ unparsed: line })
        }
      }
      cb()
    },
  })
  const logger = createLogger({ level: config.log.level, destination: sink })
  const kg = await start(config, { logger, env: {}, ...options.start })
  return {
    caFile: pki.caFile,
    caPem: pki.caPem,
    issuer,
    apiserver,
    kg,
    config,
    logs,
    async close () {
      await kg.close()
      if (ownPeers) {
        await apiserver.close()
        await issuer.close()
      }
    },
  }
}

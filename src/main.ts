import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { createAuthenticator, type Authenticated, type Authenticator } from './auth/authenticator.js'
import { createClaimMapper } from './claims/map.js'
import type { Config } from './config/load.js'
import { KubegateError } from './errors.js'
import { statusBuffer } from './k8s/status.js'
import { buildImpersonationHeaders } from './impersonation/headers.js'
import { createLogger } from './log/logger.js'
import { createOidcVerifier, type OidcVerifier } from './oidc/verifier.js'
import { createRequestHandlers, type AccessRecord, type Admission, type LocalHandler } from './server/handler.js'
import { createProbeRoutes, type ReadinessCheck } from './server/probes.js'
import { createSessionRegistry, type SessionRegistry } from './server/sessions.js'
import { createForwarder } from './upstream/forwarder.js'
import { resolveUpstream, type UpstreamTarget } from './upstream/target.js'
import { createTokenSource, type TokenSource } from './upstream/token-source.js'
import { createTunneler } from './upstream/tunnel.js'

export interface StartOptions {
  readonly logger?: Logger
  /** Environment for in-cluster discovery (tests pass their own). */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly admissions?: readonly Admission[]
  readonly localRoutes?: ReadonlyMap<string, LocalHandler>
  readonly localPrefixes?: ReadonlyArray<readonly [string, LocalHandler]>
  readonly readinessChecks?: readonly ReadinessCheck[]
  readonly onAccess?: (r: AccessRecord) => void
  readonly onAuthFailure?: (failure: string) => void
  readonly now?: () => number
  /**
   * @internal Benchmark harness only (bench/run.ts): forward every request WITHOUT authentication, as the
   * fixed identity given here, to measure the floor that kubegate's own cost is compared against. Deliberately
   * not a config key, flag or environment variable: no configuration file can turn authentication off.
   */
  readonly unsafeBenchBarePassThrough?: { readonly user: string, readonly groups: readonly string[] }
}

export interface Kubegate {
  /** `http(s)://host:port` of the proxy listener. */
  readonly url: string
  readonly port: number
  readonly server: Server
  readonly logger: Logger
  readonly verifier: OidcVerifier
  readonly authenticator: Authenticator
  readonly sessions: SessionRegistry
  readonly token: TokenSource
  readonly target: UpstreamTarget
  isReady: () => boolean
  /** Stops accepting, closes sessions and connections, releases timers. */
  close: () => Promise<void>
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 505: 'HTTP Version Not Supported' }

/**
 * Answers what Node's HTTP parser refused (malformed framing, oversized headers, slow headers) with a Status
 * body and closes. Nothing has been read into a request, so nothing was forwarded.
 */
function onClientError (err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || (err as { code?: string }).code === 'ECONNRESET') {
    socket.destroy()
    return
  }
  const code = err.code === 'HPE_HEADER_OVERFLOW' ? 431
    : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408
      : err.code === 'HPE_INVALID_VERSION' ? 505 : 400
  const e = code === 431 ? new KubegateError('KG_ERR_HEADERS_TOO_LARGE') : new KubegateError('KG_ERR_BAD_REQUEST')
  const body = code === 408 || code === 505 ? Buffer.alloc(0) : statusBuffer(e.code)
  socket.end(Buffer.concat([Buffer.from(
    `HTTP/1.1 ${code} ${STATUS_TEXT[code] ?? 'Bad Request'}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`,
    'latin1'), body]))
  socket.destroySoon?.()
}

function bareAuthenticated (id: { readonly user: string, readonly groups: readonly string[] }): Authenticated {
  const identity = { user: id.user, groups: [...id.groups], uid: undefined, sub: id.user, exp: Number.MAX_SAFE_INTEGER, iat: undefined }
  return { identity, headers: buildImpersonationHeaders(identity), tokenHash: 'bench-bare-pass-through', keyId: undefined }
}

/** Composition root: builds every stage from its config section and starts the listener. */
export async function start (config: Config, options: StartOptions = {}): Promise<Kubegate> {
  const logger = options.logger ?? createLogger({ level: config.log.level })
  const target = resolveUpstream(config.upstream, options.env ?? process.env)
  const token = createTokenSource({
    file: target.tokenFile,
    staticToken: target.staticToken,
    refreshMs: config.upstream.tokenRefreshSeconds * 1000,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'service-account token re-read failed; keeping the previous one'),
    onChange: () => logger.info('service-account token reloaded'),
  })
  const oidc = config.oidc
  // Late-bound: the verifier reports removed keys, the authenticator (built next) evicts what they verified.
  let onKeysRemoved: (kids: ReadonlySet<string>) => void = () => {}
  const verifier = createOidcVerifier({
    issuerUrl: oidc.issuerUrl,
    clientId: oidc.clientId,
    ca: oidc.caFile === undefined ? undefined : readFileSync(oidc.caFile, 'utf8'),
    signingAlgs: oidc.signingAlgs,
    clockSkewSeconds: oidc.clockSkewSeconds,
    jwksRefreshCooldownSeconds: oidc.jwksRefreshCooldownSeconds,
    jwksMaxAgeSeconds: oidc.jwksMaxAgeSeconds,
    jwksStaleAfterSeconds: oidc.jwksStaleAfterSeconds,
    maxPendingVerifications: config.cache.maxPendingVerifications,
    logger,
    now: options.now,
    onKeysRemoved: (kids) => onKeysRemoved(kids),
  })
  const authenticator = createAuthenticator({
    verifier,
    mapClaims: createClaimMapper({
      issuerUrl: oidc.issuerUrl,
      usernameClaim: oidc.usernameClaim,
      usernamePrefix: oidc.usernamePrefix,
      groupsClaim: oidc.groupsClaim,
      groupsPrefix: oidc.groupsPrefix,
      uidClaim: oidc.uidClaim,
      requiredClaims: oidc.requiredClaims,
      allowReservedIdentities: oidc.allowReservedIdentities,
      maxGroups: oidc.maxGroups,
    }),
    maxEntries: config.cache.maxEntries,
    maxTtlSeconds: config.cache.maxTtlSeconds,
    negativeTtlSeconds: config.cache.negativeTtlSeconds,
    negativeMaxEntries: config.cache.negativeMaxEntries,
    now: options.now,
  })
  onKeysRemoved = (kids) => {
    const n = authenticator.evict((a) => a.keyId !== undefined && kids.has(a.keyId))
    logger.info({ removedKeys: kids.size, evictedTokens: n }, 'issuer keys removed')
  }
  const forwarder = createForwarder({
    target,
    connections: config.upstream.maxConnections,
    headersTimeoutMs: config.upstream.timeoutSeconds * 1000,
  })
  const tunneler = createTunneler({
    target,
    responseTimeoutMs: config.upstream.timeoutSeconds * 1000,
    idleTimeoutMs: config.server.upgradeIdleTimeoutSeconds * 1000,
  })
  const sessions = createSessionRegistry()
  let closing = false
  const checks: ReadinessCheck[] = [
    {
      name: 'oidc',
      check: () => {
        if (verifier.isReady()) return undefined
        const s = verifier.status()
        return !s.discovered ? 'discovery pending' : !s.jwksLoaded ? 'key set not loaded' : 'key set stale'
      },
    },
    { name: 'shutdown', check: () => closing ? 'shutting down' : undefined },
    ...(options.readinessChecks ?? []),
  ]
  const routes = new Map(createProbeRoutes(() => checks))
  for (const [k, v] of options.localRoutes ?? []) routes.set(k, v)

  const handlers = createRequestHandlers({
    authenticator,
    forwarder,
    tunneler,
    token,
    sessions,
    logger,
    maxTokenBytes: oidc.maxTokenBytes,
    maxUpgradesPerUser: config.server.maxUpgradesPerUser,
    admissions: options.admissions,
    localRoutes: routes,
    localPrefixes: options.localPrefixes,
    onAccess: options.onAccess,
    onAuthFailure: options.onAuthFailure,
    bareIdentity: options.unsafeBenchBarePassThrough === undefined ? undefined : bareAuthenticated(options.unsafeBenchBarePassThrough),
  })
  if (options.unsafeBenchBarePassThrough !== undefined) logger.warn('BENCHMARK BARE PASS-THROUGH: authentication is OFF in this process')

  const serverOptions = {
    // Node's strict parser (invariant 8); 16 KiB header block (invariant 9).
    insecureHTTPParser: false,
    maxHeaderSize: 16 * 1024,
    requireHostHeader: true,
    joinDuplicateHeaders: false,
    headersTimeout: config.server.headersTimeoutSeconds * 1000,
    requestTimeout: config.server.requestTimeoutSeconds * 1000,
    keepAliveTimeout: config.server.keepAliveTimeoutSeconds * 1000,
    // Node checks headers/request timeouts on this interval (default 30 s, which would let a slow-headers
    // client hold a connection well past headersTimeout).
    connectionsCheckingInterval: Math.min(1000, config.server.headersTimeoutSeconds * 250),
    noDelay: true,
  }
  let server: Server
  if (config.tls.certFile !== undefined && config.tls.privateKeyFile !== undefined) {
    server = createHttpsServer({
      ...serverOptions,
      cert: readFileSync(config.tls.certFile),
      key: readFileSync(config.tls.privateKeyFile),
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
    })
  } else {
    server = createHttpServer(serverOptions)
    logger.warn('no tls.certFile/tls.privateKeyFile: serving PLAIN HTTP. Tokens cross the network in clear text; use this on loopback for testing only.')
  }
  server.on('request', handlers.onRequest)
  server.on('checkContinue', handlers.onCheckContinue)
  server.on('upgrade', handlers.onUpgrade)
  server.on('connect', handlers.onConnect)
  server.on('clientError', onClientError)

  await verifier.start()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(config.listen.port, config.listen.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const addr = server.address() as AddressInfo
  const scheme = config.tls.certFile !== undefined ? 'https' : 'http'
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `${scheme}://${host}:${addr.port}`
  logger.info({ url, upstream: target.origin, upstreamSource: target.source, issuer: oidc.issuerUrl }, 'kubegate listening')

  return {
    url,
    port: addr.port,
    server,
    logger,
    verifier,
    authenticator,
    sessions,
    token,
    target,
    isReady: () => checks.every((c) => c.check() === undefined),
    async close () {
      if (closing) return
      closing = true
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      sessions.closeAll()
      server.closeIdleConnections()
      const t = setTimeout(() => server.closeAllConnections(), 5000)
      t.unref()
      await closed
      clearTimeout(t)
      await forwarder.destroy()
      await verifier.close()
      token.close()
      logger.flush?.()
    },
  }
}

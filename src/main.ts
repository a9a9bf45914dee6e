import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { createSecureContext } from 'node:tls'
import type { Logger } from 'pino'
import { createAuthenticator, type Authenticated, type Authenticator } from './auth/authenticator.js'
import { createClaimMapper } from './claims/map.js'
import type { Config } from './config/load.js'
import { KubegateError } from './errors.js'
import { statusBuffer } from './k8s/status.js'
import { createAuditLog, type AuditLog } from './log/audit.js'
import { buildImpersonationHeaders } from './impersonation/headers.js'
import { createLogger } from './log/logger.js'
import { createMetrics, type KubegateMetrics, type StoreState } from './metrics/metrics.js'
import { startMetricsServer, type MetricsServer } from './metrics/server.js'
import { createOidcVerifier, type OidcVerifier } from './oidc/verifier.js'
import { createClientAddress } from './server/client-address.js'
import { createRequestHandlers, type AccessRecord, type Admission, type LocalHandler } from './server/handler.js'
import { createProbeRoutes, type ReadinessCheck } from './server/probes.js'
import { createSessionRegistry, type SessionRegistry } from './server/sessions.js'
import { createSharedState, type SharedState } from './shared-state/shared-state.js'
import type { Store } from './store/types.js'
import { createForwarder, type Forwarder } from './upstream/forwarder.js'
import { createUpstreamHealth } from './upstream/health.js'
import { resolveUpstream, type UpstreamTarget } from './upstream/target.js'
import { createTokenSource, type TokenSource } from './upstream/token-source.js'
import { createTunneler, type Tunneler } from './upstream/tunnel.js'
import { createLoginRoutes, type LoginRoutes } from './web/routes.js'
import type { LoginStateStore } from './web/state-store.js'

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
  /** Where logins in progress wait (shared store across replicas); in-memory by default. */
  readonly loginStateStore?: LoginStateStore
  /** The store's state for `kubegate_store_state` (revocation/rate-limit store, when one is configured). */
  readonly storeState?: () => StoreState
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
  /** The components serving now (a reload may replace them; read these at use, do not keep them). */
  readonly verifier: OidcVerifier
  readonly authenticator: Authenticator
  readonly sessions: SessionRegistry
  /** Revocations, rate limits, admin API and their store (status() for metrics). */
  readonly sharedState: SharedState
  readonly token: TokenSource
  readonly target: UpstreamTarget
  readonly metrics: KubegateMetrics
  /** The metrics and probe listener. */
  readonly metricsServer: MetricsServer
  isReady: () => boolean
  /** Ordinary requests being served (not watches, `logs -f` or upgraded sessions). */
  inflight: () => number
  /**
   * Applies a new configuration without dropping connections: serving certificate, upstream (CA, server,
   * token file), OIDC and cache settings, log level, audit file. Everything is built and checked first and
   * swapped only if all of it is usable; otherwise it rejects with a ReloadError and nothing changed.
   * Resolves with the parts that changed.
   */
  reload: (config: Config) => Promise<string[]>
  /** `/readyz` fails from now on; the listener still accepts (endpoints need time to drop this pod). */
  beginShutdown: () => void
  /** Stops accepting connections; kept-alive ones get `Connection: close` on their next response. */
  stopAccepting: () => void
  /** Ends every watch (terminating chunk) and upgraded session (close frame where possible). */
  closeSessions: () => number
  /** Stops accepting, closes sessions and connections, releases timers. */
  close: () => Promise<void>
}

/** A reload that was refused; the running configuration stays. */
export class ReloadError extends Error {
  override readonly name = 'ReloadError'
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

/** Login state on the shared store, under its own key space. */
function loginStoreOn (store: Store): LoginStateStore {
  const k = (key: string): string => 'login:' + key
  return {
    set: (key, value, ttlMs) => store.set(k(key), value, ttlMs),
    get: (key) => store.get(k(key)),
    take: (key) => store.take(k(key)),
    delete: async (key) => { await store.delete(k(key)) },
  }
}

/** Reads a file's text; `undefined` for an unset path. */
function readText (file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, 'utf8')
}

/**
 * The login page (`/login`, `/callback`), on when `login.publicUrl` is set. The client id and issuer are
 * the proxy's own, so the ID token it hands out is exactly one the proxy accepts.
 */
function createLogin (config: Config, authenticator: Pick<Authenticator, 'authenticate'>, refreshKeys: () => Promise<boolean>, logger: Logger, options: StartOptions): LoginRoutes {
  const l = config.login
  // Default CA for the kubeconfig: the serving chain; `-` means publicly trusted (no CA data).
  const clusterCaPem = l.caFile === '-' ? undefined : readText(l.caFile ?? config.tls.certFile)
  const secret = readText(l.clientSecretFile)?.replace(/\r?\n$/, '')
  if (secret === '') throw new Error('login.clientSecretFile: the file is empty')
  return createLoginRoutes({
    publicUrl: l.publicUrl as string,
    issuerUrl: config.oidc.issuerUrl,
    clientId: config.oidc.clientId,
    clientSecret: secret,
    scopes: l.scopes,
    issuerCaPem: readText(config.oidc.caFile),
    clusterCaPem,
    userNamespaceFromEmail: l.userNamespaceFromEmail,
    includeClientSecret: l.includeClientSecret,
    staticTokenForm: l.staticTokenForm,
    stateTtlSeconds: l.stateTtlSeconds,
    authenticator,
    refreshKeys,
    logger: logger.child({ component: 'login' }),
    store: options.loginStateStore,
    now: options.now,
  })
}

interface OidcParts { verifier: OidcVerifier, authenticator: Authenticator, fingerprint: string }
interface UpstreamParts { target: UpstreamTarget, forwarder: Forwarder, tunneler: Tunneler, fingerprint: string }

/** What the OIDC components are built from; equal fingerprints mean a reload leaves them alone. */
function oidcFingerprint (config: Config): string {
  const ca = config.oidc.caFile === undefined ? undefined : readFileSync(config.oidc.caFile, 'utf8')
  return JSON.stringify([config.oidc, config.cache, ca])
}

function buildOidc (config: Config, options: StartOptions, logger: Logger, metrics: KubegateMetrics): OidcParts {
  const oidc = config.oidc
  const ca = oidc.caFile === undefined ? undefined : readFileSync(oidc.caFile, 'utf8')
  // Late-bound: the verifier reports removed keys, the authenticator (built next) evicts what they verified.
  let onKeysRemoved: (kids: ReadonlySet<string>) => void = () => {}
  const verifier = createOidcVerifier({
    issuerUrl: oidc.issuerUrl,
    clientId: oidc.clientId,
    ca,
    signingAlgs: oidc.signingAlgs,
    clockSkewSeconds: oidc.clockSkewSeconds,
    jwksRefreshCooldownSeconds: oidc.jwksRefreshCooldownSeconds,
    jwksMaxAgeSeconds: oidc.jwksMaxAgeSeconds,
    jwksStaleAfterSeconds: oidc.jwksStaleAfterSeconds,
    maxPendingVerifications: config.cache.maxPendingVerifications,
    logger,
    now: options.now,
    onJwksFetch: metrics.onJwksFetch,
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
  return { verifier, authenticator, fingerprint: JSON.stringify([oidc, config.cache, ca]) }
}

function upstreamFingerprint (config: Config, target: UpstreamTarget): string {
  return JSON.stringify([target.origin, target.ca, target.servername, config.upstream.maxConnections,
    config.upstream.timeoutSeconds, config.server.upgradeIdleTimeoutSeconds])
}

function buildUpstream (config: Config, target: UpstreamTarget): UpstreamParts {
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
  return { target, forwarder, tunneler, fingerprint: upstreamFingerprint(config, target) }
}

function buildToken (target: UpstreamTarget, config: Config, logger: Logger): TokenSource {
  return createTokenSource({
    file: target.tokenFile,
    staticToken: target.staticToken,
    refreshMs: config.upstream.tokenRefreshSeconds * 1000,
    onError: (err) => logger.warn({ err: (err as Error).message }, 'service-account token re-read failed; keeping the previous one'),
    onChange: () => logger.info('service-account token reloaded'),
  })
}

function readTls (config: Config): { cert: Buffer, key: Buffer } | undefined {
  if (config.tls.certFile === undefined || config.tls.privateKeyFile === undefined) return undefined
  const cert = readFileSync(config.tls.certFile)
  const key = readFileSync(config.tls.privateKeyFile)
  // Throws on a key that does not match the certificate (e.g. read between the two files' rotation).
  createSecureContext({ cert, key })
  return { cert, key }
}

/** Settings read once at start; a change needs a restart (reload says so). */
const RESTART_KEYS = ['listen', 'metrics', 'server', 'shutdown', 'reload'] as const

/** Composition root: builds every stage from its config section and starts the listeners. */
export async function start (config: Config, options: StartOptions = {}): Promise<Kubegate> {
  const logger = options.logger ?? createLogger({ level: config.log.level })
  const env = options.env ?? process.env
  const metrics = createMetrics({ version: process.env.npm_package_version })
  let current = config
  let up = buildUpstream(config, resolveUpstream(config.upstream, env))
  let token = buildToken(up.target, config, logger)
  let auth = buildOidc(config, options, logger, metrics)
  let audit: AuditLog | undefined = config.audit.file === undefined ? undefined : openAudit(config.audit.file, config.audit.maxBufferedEvents)
  function openAudit (file: string, maxBuffered: number): AuditLog {
    return createAuditLog({ file, maxBuffered, logger, onDropped: metrics.onAuditDropped })
  }

  // The handler holds these delegates; a reload swaps what they point at. New requests use the new
  // components, requests already running finish on the ones they started with.
  const authenticator: Authenticator = {
    authenticate: (t) => auth.authenticator.authenticate(t),
    evict: (p) => auth.authenticator.evict(p),
    get size () { return auth.authenticator.size },
    get stats () { return auth.authenticator.stats },
    clear: () => { auth.authenticator.clear() },
  }
  const forwarder: Forwarder = {
    forward: (req, res, headers, hasBody, longRunning, done) => up.forwarder.forward(req, res, headers, hasBody, longRunning, done),
    probe: (path, authorization, timeoutMs) => up.forwarder.probe(path, authorization, timeoutMs),
    close: () => up.forwarder.close(),
    destroy: () => up.forwarder.destroy(),
  }
  const tunneler: Tunneler = { tunnel: (t, done) => up.tunneler.tunnel(t, done) }
  const tokenView: TokenSource = {
    get header () { return token.header },
    reload: () => token.reload(),
    close: () => { token.close() },
  }

  const sessions = createSessionRegistry()
  const sharedState = createSharedState(config, { authenticator, sessions, logger, now: options.now })
  let closing = false
  let shuttingDown = false
  let inflight = 0
  const health = createUpstreamHealth({
    probe: () => up.forwarder.probe('/readyz', token.header, 5000),
    intervalMs: config.upstream.healthCheckSeconds * 1000,
    onChange: (ok, reason) => {
      if (ok) logger.info('apiserver reachable')
      else logger.warn({ reason }, 'apiserver health check failed')
    },
  })
  const checks: ReadinessCheck[] = [
    {
      name: 'oidc',
      check: () => {
        const verifier = auth.verifier
        if (verifier.isReady()) return undefined
        const s = verifier.status()
        return !s.discovered ? 'discovery pending' : !s.jwksLoaded ? 'key set not loaded' : 'key set stale'
      },
    },
    { name: 'upstream', check: () => health.up() === true ? undefined : health.reason() ?? 'apiserver unreachable' },
    { name: 'shutdown', check: () => shuttingDown || closing ? 'shutting down' : undefined },
    ...sharedState.readinessChecks,
    ...(options.readinessChecks ?? []),
  ]
  const probeRoutes = createProbeRoutes(() => checks)
  const routes = new Map(probeRoutes)
  // The login page verifies through whichever authenticator is current (OIDC settings reload swaps it).
  const login = config.login.publicUrl === undefined
    ? undefined
    : createLogin(config, { authenticate: (t) => auth.authenticator.authenticate(t) }, () => auth.verifier.refreshKeys(), logger, {
      ...options,
      // With Redis, logins in progress live there, so /login and /callback may land on different replicas.
      // The single-replica default keeps the login module's own bounded memory store (/login is unauthenticated).
      loginStateStore: options.loginStateStore ?? (sharedState.store.kind === 'redis' ? loginStoreOn(sharedState.store) : undefined),
    })
  for (const [k, v] of login?.routes ?? []) routes.set(k, v)
  for (const [k, v] of options.localRoutes ?? []) routes.set(k, v)

  const onAccess = (r: AccessRecord): void => {
    metrics.onAccess(r)
    audit?.record(r)
    options.onAccess?.(r)
  }
  const onAuthFailure = (failure: string): void => {
    metrics.onAuthFailure(failure)
    options.onAuthFailure?.(failure)
  }

  const handlers = createRequestHandlers({
    authenticator,
    forwarder,
    tunneler,
    token: tokenView,
    sessions,
    logger,
    maxTokenBytes: config.oidc.maxTokenBytes,
    maxUpgradesPerUser: config.server.maxUpgradesPerUser,
    admissions: [...sharedState.admissions, ...(options.admissions ?? [])],
    localRoutes: routes,
    localPrefixes: [...sharedState.localPrefixes, ...(options.localPrefixes ?? [])],
    onAccess,
    onAuthFailure,
    clientAddress: createClientAddress(config.server.trustedProxies),
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
  let tls = readTls(config)
  if (tls !== undefined) {
    server = createHttpsServer({
      ...serverOptions,
      cert: tls.cert,
      key: tls.key,
      minVersion: 'TLSv1.2',
      ALPNProtocols: ['http/1.1'],
      // As node:http does for plain sockets: a client's FIN ends only its direction. Ordinary requests are
      // unaffected (the HTTP layer ends the socket on FIN); an upgraded tunnel carries the half-close across.
      allowHalfOpen: true,
    })
  } else {
    server = createHttpServer(serverOptions)
    logger.warn('no tls.certFile/tls.privateKeyFile: serving PLAIN HTTP. Tokens cross the network in clear text; use this on loopback for testing only.')
  }
  const requestDone = (): void => { inflight-- }
  // First listener: counts requests (in-flight gauge, drain) and asks kept-alive clients to go elsewhere
  // once shutting down. No closure per request.
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    inflight++
    res.once('close', requestDone)
    if (shuttingDown) res.shouldKeepAlive = false
  })
  server.on('request', handlers.onRequest)
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    inflight++
    res.once('close', requestDone)
    if (shuttingDown) res.shouldKeepAlive = false
    handlers.onCheckContinue(req, res)
  })
  server.on('upgrade', handlers.onUpgrade)
  server.on('connect', handlers.onConnect)
  server.on('clientError', onClientError)

  const ordinaryInflight = (): number => Math.max(0, inflight - sessions.count('stream'))
  metrics.bind({
    tokenCache: () => auth.authenticator,
    jwks: () => auth.verifier.status(),
    inflight: () => inflight,
    sessions: (kind) => sessions.count(kind),
    checks: () => checks.map((c) => [c.name, c.check() === undefined] as const),
    upstreamUp: () => health.up(),
    storeState: options.storeState ?? (() => {
      const st = sharedState.status()
      if (st.store.state === 'up') return 'connected'
      // Down but serving from the last confirmed list: degraded; beyond the staleness bound it fails closed.
      return st.revocations.stale ? 'disconnected' : 'degraded'
    }),
  })

  await auth.verifier.start()
  await sharedState.start(config.store.timeoutMilliseconds * 8)
  const metricsServer = await startMetricsServer({
    host: config.metrics.listen.host,
    port: config.metrics.listen.port,
    registry: metrics.registry,
    probes: probeRoutes,
    logger,
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(config.listen.port, config.listen.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    await metricsServer.close()
    throw err
  }
  const addr = server.address() as AddressInfo
  const scheme = tls !== undefined ? 'https' : 'http'
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
  const url = `${scheme}://${host}:${addr.port}`
  logger.info({ url, metrics: metricsServer.url, upstream: up.target.origin, upstreamSource: up.target.source, issuer: config.oidc.issuerUrl }, 'kubegate listening')

  let reloading: Promise<string[]> | undefined
  async function reload (next: Config): Promise<string[]> {
    // One at a time: a second trigger waits for the first and then compares against its result.
    while (reloading !== undefined) await reloading.catch(() => undefined)
    const p = doReload(next)
    reloading = p
    try {
      return await p
    } finally {
      reloading = undefined
    }
  }

  async function doReload (next: Config): Promise<string[]> {
    if (closing) throw new ReloadError('shutting down')
    const changed: string[] = []
    // 1. Build and check everything; nothing serving is touched yet.
    let nextTls: { cert: Buffer, key: Buffer } | undefined
    try {
      nextTls = readTls(next)
    } catch (err) {
      throw new ReloadError(`serving certificate/key: ${(err as Error).message}`)
    }
    if ((nextTls === undefined) !== (tls === undefined)) throw new ReloadError('switching between HTTP and HTTPS needs a restart')
    const tlsChanged = nextTls !== undefined && tls !== undefined && (!nextTls.cert.equals(tls.cert) || !nextTls.key.equals(tls.key))

    let nextUp: UpstreamParts | undefined
    let nextToken: TokenSource | undefined
    let nextAuth: OidcParts | undefined
    try {
      const target = resolveUpstream(next.upstream, env)
      if (upstreamFingerprint(next, target) !== up.fingerprint) nextUp = buildUpstream(next, target)
      if (target.tokenFile !== up.target.tokenFile || target.staticToken !== up.target.staticToken ||
        next.upstream.tokenRefreshSeconds !== current.upstream.tokenRefreshSeconds) {
        nextToken = buildToken(target, next, logger)
      }
      if (oidcFingerprint(next) !== auth.fingerprint) {
        const candidate = buildOidc(next, options, logger, metrics)
        nextAuth = candidate
        await candidate.verifier.start()
        // An issuer the new settings cannot reach would turn every request into a 401/503: refuse it.
        if (!candidate.verifier.isReady()) {
          const s = candidate.verifier.status()
          throw new ReloadError(`new OIDC settings not usable: ${s.lastError ?? (!s.discovered ? 'discovery failed' : 'key set not loaded')}`)
        }
      }
    } catch (err) {
      await nextUp?.forwarder.destroy()
      nextToken?.close()
      await nextAuth?.verifier.close()
      throw err instanceof ReloadError ? err : new ReloadError((err as Error).message)
    }

    // 2. Commit: nothing below can fail halfway. The one await (re-reading an unchanged token file) never
    // throws: a failed read keeps the current token.
    if (tlsChanged && nextTls !== undefined) {
      // New handshakes get the new certificate; established connections keep theirs.
      ;(server as HttpsServer).setSecureContext({ cert: nextTls.cert, key: nextTls.key, minVersion: 'TLSv1.2' })
      tls = nextTls
      changed.push('tls')
    }
    if (nextUp !== undefined) {
      const old = up
      up = nextUp
      // The old pool finishes what it carries (watches included) and then closes.
      old.forwarder.close().catch(() => undefined)
      changed.push('upstream')
      void health.checkNow()
    }
    if (nextToken !== undefined) {
      const old = token
      token = nextToken
      old.close()
      changed.push('upstream.token')
    } else if (await token.reload()) {
      changed.push('upstream.token')
    }
    if (nextAuth !== undefined) {
      const old = auth
      auth = nextAuth
      // Verdicts of the old settings are not carried over: a changed claim mapping must apply at once.
      old.verifier.close().catch(() => undefined)
      changed.push('oidc')
    }
    if (next.log.level !== current.log.level) {
      logger.level = next.log.level
      changed.push('log.level')
    }
    if (next.audit.file !== current.audit.file || next.audit.maxBufferedEvents !== current.audit.maxBufferedEvents) {
      const old = audit
      audit = next.audit.file === undefined ? undefined : openAudit(next.audit.file, next.audit.maxBufferedEvents)
      void old?.close()
      changed.push('audit')
    } else {
      // Same file name: reopen anyway, so a rotated (renamed) file is let go.
      audit?.reopen()
    }
    for (const k of RESTART_KEYS) {
      if (JSON.stringify(next[k]) !== JSON.stringify(current[k])) logger.warn({ section: k }, 'configuration change needs a restart to apply')
    }
    current = next
    return changed
  }

  function stopAccepting (): void {
    shuttingDown = true
    if (server.listening) server.close()
    server.closeIdleConnections()
  }

  return {
    url,
    port: addr.port,
    server,
    logger,
    get verifier () { return auth.verifier },
    get authenticator () { return auth.authenticator },
    sessions,
    get token () { return token },
    get target () { return up.target },
    metrics,
    metricsServer,
    sharedState,
    isReady: () => checks.every((c) => c.check() === undefined),
    inflight: ordinaryInflight,
    reload,
    beginShutdown () { shuttingDown = true },
    stopAccepting,
    closeSessions: () => sessions.closeAll(),
    async close () {
      if (closing) return
      closing = true
      shuttingDown = true
      const closed = new Promise<void>((resolve) => {
        if (server.listening) server.close(() => resolve())
        else resolve()
      })
      sessions.closeAll()
      server.closeIdleConnections()
      const t = setTimeout(() => server.closeAllConnections(), 5000)
      t.unref()
      // A server closed earlier (stopAccepting) has no close callback left: wait for its connections instead.
      await closed
      const deadline = Date.now() + 5000
      while ((inflight > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
      server.closeAllConnections()
      clearTimeout(t)
      health.close()
      await up.forwarder.destroy()
      await auth.verifier.close()
      await login?.close()
      await sharedState.close()
      token.close()
      await audit?.close()
      await metricsServer.close()
      logger.flush?.()
    },
  }
}

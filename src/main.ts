// Composition root: which components kubegate is made of and how they are wired. Each is built by its own builder.
import { createServer, type Server } from 'node:http'
import type { Logger } from 'pino'
import type { Authenticated, Authenticator } from './auth/authenticator.js'
import { loginIssuer } from './authn/from-config.js'
import { authenticationReadiness, bareAuthenticated, buildAuthentication, servingAuthenticator, type Authentication } from './auth/build.js'
import { buildReviews, type Reviews } from './authz/build.js'
import type { Config } from './config/load.js'
import { buildAudit, type AuditLog } from './log/audit.js'
import type { AccessRecord } from './log/access-record.js'
import { createLogger } from './log/logger.js'
import { createMetrics, type KubegateMetrics, type StoreState } from './metrics/metrics.js'
import { startMetricsServer, type MetricsServer } from './metrics/server.js'
import { bindMetrics } from './metrics/sources.js'
import type { OidcVerifier } from './oidc/verifier.js'
import { ConfigReload } from './reload.js'
import { createClientAddress } from './server/client-address.js'
import { buildFloodDefence } from './server/flood-defence.js'
import { createRequestHandlers } from './server/handler.js'
import { Listener } from './server/listener.js'
import { createProbeRoutes, readinessReport, type ReadinessCheck, type ReadinessReport } from './server/probes.js'
import { createSessionRegistry, type SessionRegistry } from './server/sessions.js'
import type { Admission, LocalHandler } from './server/stages.js'
import { createSharedState, type SharedState } from './shared-state/shared-state.js'
import type { Store } from './store/types.js'
import { Swappable } from './swappable.js'
import { buildTokenSource, buildUpstream, buildUpstreamHealth, upstreamReadiness, type Upstream } from './upstream/build.js'
import type { UpstreamHealth } from './upstream/health.js'
import { resolveUpstream, type UpstreamTarget } from './upstream/target.js'
import type { TokenSource } from './upstream/token-source.js'
import { buildLogin } from './web/build.js'
import type { LoginRoutes } from './web/routes.js'
import type { LoginStateStore } from './web/state-store.js'

export { ReloadError } from './reload.js'

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
  /** The revocation/rate-limit store instead of the configured one (a worker's IPC store); the caller owns it (close() leaves it open). */
  readonly store?: Store
  /**
   * false: no metrics and probe listener in this process (a worker of `server.workers` > 1: the primary serves
   * that port and asks the workers over IPC). `metricsServer` is then a stand-in with url '' and port 0.
   */
  readonly metricsListener?: boolean
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
  /** What `/readyz` would answer now (the primary of `server.workers` merges its workers' reports). */
  readiness: () => ReadinessReport
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

/** What start() wired, as the running handle needs it. */
interface Wiring {
  readonly config: Config
  readonly logger: Logger
  readonly metrics: KubegateMetrics
  readonly upstream: Swappable<Upstream>
  readonly token: Swappable<TokenSource>
  readonly authentication: Swappable<Authentication>
  readonly audit: Swappable<AuditLog | undefined>
  readonly sessions: SessionRegistry
  readonly sharedState: SharedState
  readonly health: UpstreamHealth
  readonly login: LoginRoutes | undefined
  readonly listener: Listener
  /** The readiness checks now (one per issuer: a reload of the issuers changes the list). */
  readonly checks: () => readonly ReadinessCheck[]
  readonly closing: { value: boolean }
  readonly reviews: Reviews
}

/**
 * Composition root: builds every component from its config section, wires them into the request pipeline
 * and starts the listeners. The swappable ones are those a reload may replace (src/reload.ts, same builders).
 */
export async function start (config: Config, options: StartOptions = {}): Promise<Kubegate> {
  const logger = options.logger ?? createLogger({ level: config.log.level })
  const { now, env = process.env } = options
  const metrics = createMetrics({ version: process.env.npm_package_version })

  // What a reload may replace (src/reload.ts rebuilds them with the same builders).
  const upstream = new Swappable(buildUpstream(config, resolveUpstream(config.upstream, env)))
  const token = new Swappable(buildTokenSource(config, upstream.current.target, logger))
  // kubegate's own questions to the apiserver (nested impersonation, token passthrough), on whichever
  // upstream and token are serving.
  const reviews = buildReviews(config, {
    target: () => upstream.current.target,
    authorization: () => token.current.header,
    onSubjectAccessReview: metrics.onSubjectAccessReview,
    onTokenReview: metrics.onTokenReview,
    now,
  })
  const authentication = new Swappable(buildAuthentication(config, { logger, onJwksFetch: metrics.onJwksFetch, now, passthrough: reviews.tokenReviewer }))
  const audit = new Swappable(buildAudit(config.audit, logger, metrics.onAuditDropped))
  const authenticator = servingAuthenticator(authentication)

  // What lives as long as the process.
  const sessions = createSessionRegistry()
  const clientAddress = createClientAddress(config.server.trustedProxies)
  const flood = buildFloodDefence(config.server.failedAuthPerAddress, { authenticator, clientAddress, onExhausted: metrics.onFailedAuthBudgetExhausted, now })
  const sharedState = createSharedState(config, { authenticator, sessions, logger, now, authenticateRequest: flood.authenticate, store: options.store })
  const health = buildUpstreamHealth(config, upstream, token, logger)
  const refreshKeys = (): Promise<boolean> => authentication.current.verifier.refreshKeys()
  const login = buildLogin(config, { authenticator, refreshKeys, issuer: loginIssuer(authentication.current.loaded), sharedStore: sharedState.store, logger, stateStore: options.loginStateStore, now })
  const listener = new Listener(config, logger)
  const closing = { value: false }
  const otherChecks: ReadinessCheck[] = [
    upstreamReadiness(health),
    { name: 'shutdown', check: () => listener.shuttingDown || closing.value ? 'shutting down' : undefined },
    ...sharedState.readinessChecks,
    ...(options.readinessChecks ?? []),
  ]
  const checks = (): readonly ReadinessCheck[] => [...authenticationReadiness(authentication), ...otherChecks]
  const probeRoutes = createProbeRoutes(checks)

  // The request pipeline: one for plain requests and upgrades (src/server/handler.ts).
  listener.attach(createRequestHandlers({
    authentication,
    upstream,
    token,
    sessions,
    logger,
    maxTokenBytes: config.oidc.maxTokenBytes,
    maxUpgradesPerUser: config.server.maxUpgradesPerUser,
    clientIdentity: reviews.clientIdentity,
    admissions: [...sharedState.admissions, ...(options.admissions ?? [])],
    localRoutes: new Map([...probeRoutes, ...(login?.routes ?? []), ...(options.localRoutes ?? [])]),
    localPrefixes: [...sharedState.localPrefixes, ...(options.localPrefixes ?? [])],
    onAccess: (r) => { metrics.onAccess(r); audit.current?.record(r); options.onAccess?.(r) },
    onAuthFailure: (f) => { metrics.onAuthFailure(f); options.onAuthFailure?.(f) },
    clientAddress,
    failedAuthBudget: flood.budget,
    tarpit: flood.tarpit,
    bareIdentity: benchBareIdentity(options, logger),
  }))
  bindMetrics(metrics, { authentication, inflight: () => listener.inflight, sessions, tarpit: flood.tarpit, get checks () { return checks() }, health, sharedState, storeState: options.storeState })

  // Start: issuer discovery, shared state, then the metrics listener and the proxy listener.
  await authentication.current.issuers.start()
  await sharedState.start(config.store.timeoutMilliseconds * 8)
  const metricsServer = options.metricsListener === false
    ? noMetricsServer()
    : await startMetricsServer({ host: config.metrics.listen.host, port: config.metrics.listen.port, registry: metrics.registry, probes: probeRoutes, logger })
  const { url, port } = await listener.listen(config.listen.host, config.listen.port).catch(async (err: unknown) => {
    await metricsServer.close()
    throw err
  })
  logger.info({
    url, metrics: metricsServer.url, upstream: upstream.current.target.origin, upstreamSource: upstream.current.target.source,
    issuers: authentication.current.issuers.router.issuers, authenticationSource: authentication.current.loaded.source,
    nestedImpersonation: config.impersonation.nested, tokenPassthrough: config.tokenPassthrough.enabled,
  }, 'kubegate listening')
  const wiring: Wiring = { config, logger, metrics, upstream, token, authentication, audit, sessions, sharedState, health, login, listener, checks, closing, reviews }
  return running(wiring, url, port, metricsServer, env, now)
}

/** A worker's stand-in for the metrics listener it does not run (StartOptions.metricsListener). */
function noMetricsServer (): MetricsServer {
  return { url: '', port: 0, server: createServer(), close: async () => undefined }
}

/** @internal The bench harness's fixed identity (StartOptions.unsafeBenchBarePassThrough), said loudly. */
function benchBareIdentity (options: StartOptions, logger: Logger): Authenticated | undefined {
  if (options.unsafeBenchBarePassThrough === undefined) return undefined
  logger.warn('BENCHMARK BARE PASS-THROUGH: authentication is OFF in this process')
  return bareAuthenticated(options.unsafeBenchBarePassThrough)
}

/** The handle on a started kubegate: its serving components, reload and the shutdown steps. */
function running (w: Wiring, url: string, port: number, metricsServer: MetricsServer,
  env: Readonly<Record<string, string | undefined>>, now: (() => number) | undefined): Kubegate {
  const { listener, sessions } = w
  const reloader = new ConfigReload({ ...w, env, now, closing: () => w.closing.value, passthrough: w.reviews.tokenReviewer }, w.config)
  return {
    url,
    port,
    server: listener.server,
    logger: w.logger,
    get verifier () { return w.authentication.current.verifier },
    get authenticator () { return w.authentication.current.authenticator },
    sessions,
    get token () { return w.token.current },
    get target () { return w.upstream.current.target },
    metrics: w.metrics,
    metricsServer,
    sharedState: w.sharedState,
    isReady: () => w.checks().every((c) => c.check() === undefined),
    readiness: () => readinessReport(w.checks()),
    inflight: () => Math.max(0, listener.inflight - sessions.count('stream')),
    reload: (next) => reloader.reload(next),
    beginShutdown: () => { listener.beginShutdown() },
    stopAccepting: () => { listener.stopAccepting() },
    closeSessions: () => sessions.closeAll(),
    close: () => closeAll(w, metricsServer),
  }
}

/** Stops accepting, closes sessions and connections, then releases every component. */
async function closeAll (w: Wiring, metricsServer: MetricsServer): Promise<void> {
  if (w.closing.value) return
  w.closing.value = true
  await w.listener.close(() => { w.sessions.closeAll() })
  w.health.close()
  await w.upstream.current.forwarder.destroy()
  await w.reviews.close()
  await w.authentication.current.issuers.close()
  await w.login?.close()
  await w.sharedState.close()
  w.token.current.close()
  await w.audit.current?.close()
  await metricsServer.close()
  w.logger.flush?.()
}

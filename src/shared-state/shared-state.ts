// Shared state: the store, the revocation list, rate limits and the admin API, as the pieces start() plugs in.
import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { IncomingMessage } from 'node:http'
import type { Logger } from 'pino'
import type { Authenticated, Authenticator } from '../auth/authenticator.js'
import type { Config } from '../config/load.js'
import { parseHostPort } from '../config/load.js'
import type { Admission, LocalHandler } from '../server/handler.js'
import type { ReadinessCheck } from '../server/probes.js'
import type { SessionRegistry } from '../server/sessions.js'
import { createMemoryStore } from '../store/memory.js'
import { createRedisStore } from '../store/redis.js'
import type { Store, StoreState } from '../store/types.js'
import { createAdminApi, REVOCATIONS_PATH } from './admin-api.js'
import { createRateLimiter, type RateLimiter, type RateLimitStatus } from './rate-limit.js'
import { createRevocationList, type RevocationList, type RevocationStatus } from './revocations.js'

export interface SharedStateDeps {
  readonly authenticator: Authenticator
  readonly sessions: SessionRegistry
  readonly logger: Logger
  readonly now?: () => number
  /**
   * How the admin API authenticates a request's token: the proxy's own step, so the failed-authentication
   * budget covers it too. Default: the authenticator alone.
   */
  readonly authenticateRequest?: (token: string, req: IncomingMessage) => Authenticated | Promise<Authenticated>
  /** Use this store instead of the configured one (tests). */
  readonly store?: Store
}

/** For metrics and `/readyz?verbose`. */
export interface SharedStateStatus {
  readonly store: { readonly kind: Store['kind'], readonly state: StoreState, readonly downSince: number | undefined }
  readonly revocations: RevocationStatus
  readonly rateLimit: RateLimitStatus
  /** Working, but not as configured (Redis unreachable): the reason, or undefined. */
  readonly degraded: string | undefined
}

export interface SharedState {
  /** Revocation first (401 before 429), then rate limits. */
  readonly admissions: readonly Admission[]
  readonly localPrefixes: ReadonlyArray<readonly [string, LocalHandler]>
  readonly readinessChecks: readonly ReadinessCheck[]
  readonly revocations: RevocationList
  readonly rateLimiter: RateLimiter
  readonly store: Store
  status: () => SharedStateStatus
  /** Connects and loads the revocation list, waiting at most `timeoutMs` (readiness reports the rest). */
  start: (timeoutMs: number) => Promise<void>
  close: () => Promise<void>
}

type SharedConfig = Pick<Config, 'store' | 'revocation' | 'rateLimit' | 'admin' | 'oidc'>

/** Redis is configured: a URL or sentinels. */
export function configuresRedis (c: Config['store']): boolean {
  return c.redisUrl !== undefined || (c.redisSentinels ?? []).length > 0
}

/** The configured store: Redis when a URL or sentinels are set, memory otherwise. */
export function createConfiguredStore (c: Config['store'], logger: Logger): Store {
  const sentinels = c.redisSentinels ?? []
  if (!configuresRedis(c)) return createMemoryStore()
  return createRedisStore({
    url: c.redisUrl,
    password: c.redisPasswordFile === undefined ? undefined : readFileSync(c.redisPasswordFile, 'utf8').replace(/\r?\n$/, ''),
    ca: c.redisCaFile === undefined ? undefined : readFileSync(c.redisCaFile, 'utf8'),
    sentinels: sentinels.map((s) => parseHostPort(s) as { host: string, port: number }),
    sentinelMaster: c.redisSentinelMaster,
    keyPrefix: c.keyPrefix,
    commandTimeoutMs: c.timeoutMilliseconds,
    logger,
  })
}

/** The revocation list; a revocation learnt here evicts the covered tokens and ends their sessions. */
function buildRevocations (config: SharedConfig, store: Store, deps: SharedStateDeps): RevocationList {
  const { logger, authenticator, sessions } = deps
  const revocations = createRevocationList({
    store,
    logger,
    maxTokenLifetimeSeconds: config.revocation.maxTokenLifetimeSeconds,
    clockSkewSeconds: config.oidc.clockSkewSeconds,
    resyncSeconds: config.revocation.resyncSeconds,
    maxStalenessSeconds: config.revocation.maxStalenessSeconds,
    now: deps.now,
    onRevoked (r) {
      // The cache would let the token through without a check only if admissions were skipped; evicting
      // anyway keeps "revoked" from lingering in memory. Open watches and exec sessions end now.
      const evicted = authenticator.evict((a) => revocations.covers(r, a.identity, a.tokenHash))
      const closed = sessions.closeWhere((s) => revocations.covers(r, s.identity, s.tokenHash))
      logger.info({ kind: r.kind, value: r.value, evicted, closedSessions: closed }, 'revocation applied')
    },
  })
  return revocations
}

function buildRateLimiter (rl: Config['rateLimit'], store: Store, deps: SharedStateDeps): RateLimiter {
  return createRateLimiter({
    store,
    logger: deps.logger,
    requestsPerSecond: rl.requestsPerSecond,
    burst: rl.burst,
    maxLongRunning: rl.maxLongRunning,
    exemptGroups: rl.exemptGroups,
    syncMs: rl.syncMilliseconds,
    sessions: deps.sessions,
    instanceId: randomBytes(12).toString('base64url'),
    now: deps.now,
  })
}

/** Readiness: fails until the revocation list is loaded, and while it is failing closed. */
function revocationReadiness (s: RevocationStatus): string | undefined {
  if (s.confirmedAt === undefined) return 'revocation list not loaded'
  if (s.stale) return 'revocation list not confirmed for too long (failing closed)'
  return undefined
}

/**
 * Revocation, rate limits and the admin API over one store, as the pieces `start()` plugs in: admissions
 * (synchronous, memory only), the `/kubegate/v1/revocations` route, readiness checks, and a status for
 * metrics. Nothing here makes a request wait on the store.
 */
export function createSharedState (config: SharedConfig, deps: SharedStateDeps): SharedState {
  const { logger, authenticator } = deps
  const now = deps.now ?? Date.now
  const store = deps.store ?? createConfiguredStore(config.store, logger)
  let downSince: number | undefined = store.state === 'up' ? undefined : now()
  const offState = store.onStateChange((s) => {
    if (s === 'down') downSince ??= now()
    else downSince = undefined
  })

  const revocations = buildRevocations(config, store, deps)
  const rateLimiter = buildRateLimiter(config.rateLimit, store, deps)

  const revocationAdmission: Admission = (auth) => revocations.check(auth)
  const rateAdmission: Admission = (auth, ctx) => rateLimiter.check(auth, ctx)
  const admin = createAdminApi({
    adminGroup: config.admin.group,
    authenticate: deps.authenticateRequest ?? ((token) => authenticator.authenticate(token)),
    admit: (auth) => revocations.check(auth) ?? rateLimiter.check(auth, { longRunning: false }),
    revocations,
    logger,
    maxTokenBytes: config.oidc.maxTokenBytes,
  })

  const degraded = (): string | undefined => {
    if (store.state === 'up') return undefined
    const secs = downSince === undefined ? 0 : Math.round((now() - downSince) / 1000)
    return `${store.kind} store unreachable for ${secs}s: last-known revocation list, local rate-limit share`
  }

  return {
    admissions: [revocationAdmission, rateAdmission],
    localPrefixes: [[REVOCATIONS_PATH, admin]],
    readinessChecks: [{ name: 'shared-state', check: () => revocationReadiness(revocations.status()), degraded }],
    revocations,
    rateLimiter,
    store,
    status: () => ({
      store: { kind: store.kind, state: store.state, downSince },
      revocations: revocations.status(),
      rateLimit: rateLimiter.status(),
      degraded: degraded(),
    }),
    async start (timeoutMs) {
      rateLimiter.start()
      let timer: NodeJS.Timeout | undefined
      const loaded = await Promise.race([
        revocations.start(),
        new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), timeoutMs) }),
      ])
      clearTimeout(timer)
      if (!loaded) logger.warn({ store: store.kind }, 'revocation list not loaded yet; authenticated requests get 503 until it is')
    },
    async close () {
      offState()
      rateLimiter.close()
      await revocations.close()
      if (deps.store === undefined) await store.close()
    },
  }
}

// The Redis store's settings, and the ioredis options kubegate runs with (fail fast, bounded, own resubscription).
import type { RedisOptions } from 'ioredis'
import type { Logger } from 'pino'

export interface RedisStoreOptions {
  /** `redis://` or `rediss://` (TLS) URL: host, port, database (`/N`), user name. Never a password. */
  readonly url?: string
  /** From `store.redisPasswordFile`; also used for Sentinel when `sentinels` is set. */
  readonly password?: string
  /** CA bundle (PEM) for `rediss://`; the system roots otherwise. */
  readonly ca?: string
  /** Sentinel mode: the sentinels to ask for the current master of `sentinelMaster`. */
  readonly sentinels?: ReadonlyArray<{ host: string, port: number }>
  readonly sentinelMaster?: string
  /** Prepended to every key and channel (several deployments may share one Redis). */
  readonly keyPrefix: string
  /** No command waits longer than this. */
  readonly commandTimeoutMs: number
  readonly logger?: Logger
}

/**
 * ioredis options for kubegate's use: no offline queue (a command while disconnected fails at once instead of
 * waiting for a reconnect), a command timeout, endless reconnects with capped back-off, and our own
 * resubscription (so a resynchronisation can follow it). Exported for tests.
 */
export function buildRedisOptions (o: RedisStoreOptions): RedisOptions {
  const opts: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: Math.max(1000, o.commandTimeoutMs * 4),
    maxRetriesPerRequest: 0,
    autoResubscribe: false,
    enableReadyCheck: true,
    retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 5), 1000),
    reconnectOnError: () => false,
    connectionName: 'kubegate',
  }
  let tls = false
  if (o.url !== undefined) {
    const u = new URL(o.url)
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error('store.redisUrl: must be redis:// or rediss://')
    if (u.password !== '') throw new Error('store.redisUrl: must not contain a password (use store.redisPasswordFile)')
    tls = u.protocol === 'rediss:'
    opts.host = u.hostname.replace(/^\[|\]$/g, '')
    opts.port = u.port === '' ? 6379 : Number(u.port)
    if (u.username !== '') opts.username = decodeURIComponent(u.username)
    const db = u.pathname.replace(/^\//, '')
    if (db !== '') {
      if (!/^\d{1,2}$/.test(db)) throw new Error('store.redisUrl: the path must be a database number')
      opts.db = Number(db)
    }
  }
  if (o.password !== undefined) opts.password = o.password
  if (tls) opts.tls = o.ca === undefined ? {} : { ca: o.ca }
  if (o.sentinels !== undefined && o.sentinels.length > 0) {
    if (o.sentinelMaster === undefined) throw new Error('store.redisSentinelMaster: required with sentinels')
    opts.sentinels = o.sentinels.map((s) => ({ host: s.host, port: s.port }))
    opts.name = o.sentinelMaster
    if (o.password !== undefined) opts.sentinelPassword = o.password
    if (tls) {
      opts.enableTLSForSentinelMode = true
      opts.sentinelTLS = o.ca === undefined ? {} : { ca: o.ca }
    }
    delete opts.host
    delete opts.port
  }
  return opts
}

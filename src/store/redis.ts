import { Redis, type RedisOptions } from 'ioredis'
import type { Logger } from 'pino'
import type { BucketPolicy, Store, StoreState } from './types.js'

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

// Token buckets on the server's clock (TIME), so replica clocks never matter. Never below 0: a debt would
// outlive the requests that caused it and make Retry-After lie.
const CONSUME_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then tokens = burst; ts = now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000); ts = now end
  tokens = math.max(0, tokens - tonumber(ARGV[3 + i]))
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.6f', tokens), 'ts', string.format('%d', ts))
  redis.call('PEXPIRE', KEYS[i], ttl)
  out[i] = string.format('%.6f', tokens)
end
return out
`

// Rate-limit leases (kgLease): the same bucket as CONSUME_LUA; takes up to ARGV[3 + i] whole tokens, never
// more than the bucket holds. Returns granted and left per key. Stored with full precision ('%.17g').
const LEASE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tokens = tonumber(v[1])
  local ts = tonumber(v[2])
  if tokens == nil or ts == nil then tokens = burst; ts = now end
  if now > ts then tokens = math.min(burst, tokens + (now - ts) * rate / 1000); ts = now end
  local granted = math.max(0, math.min(tonumber(ARGV[3 + i]), math.floor(tokens)))
  tokens = tokens - granted
  redis.call('HSET', KEYS[i], 'tokens', string.format('%.17g', tokens), 'ts', string.format('%d', ts))
  redis.call('PEXPIRE', KEYS[i], ttl)
  out[2 * i - 1] = string.format('%d', granted)
  out[2 * i] = string.format('%.6f', tokens)
end
return out
`

const HEARTBEAT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`

const INCR_LUA = `
local v = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return v
`

interface Scripts {
  kgConsume: (numKeys: number, ...args: Array<string | number>) => Promise<string[]>
  kgLease: (numKeys: number, ...args: Array<string | number>) => Promise<string[]>
  kgHeartbeat: (key: string, member: string, ttl: number) => Promise<number>
  kgIncr: (key: string, by: number, ttl: number) => Promise<number>
}

const MAX_SCAN_ROUNDS = 10_000
const MAX_BATCH = 500

function escapeGlob (s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => '\\' + c)
}

/**
 * The Redis store (ioredis): one connection for commands, one for the subscription. `state` is `up` only
 * while both are ready and every channel is subscribed; each return to `up` is announced so that users
 * resynchronise (pub/sub is fire-and-forget: messages sent while disconnected are lost).
 */
export function createRedisStore (o: RedisStoreOptions): Store {
  const prefix = o.keyPrefix
  const base = buildRedisOptions(o)
  const client = new Redis(base)
  const sub = new Redis(base)
  client.defineCommand('kgConsume', { lua: CONSUME_LUA })
  client.defineCommand('kgLease', { lua: LEASE_LUA })
  client.defineCommand('kgHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_LUA })
  client.defineCommand('kgIncr', { numberOfKeys: 1, lua: INCR_LUA })
  const scripts = client as unknown as Scripts
  const channels = new Map<string, Set<(m: string) => void>>()
  const listeners = new Set<(s: StoreState) => void>()
  let state: StoreState = 'down'
  let subscribed = false
  let closing = false
  let lastError = ''
  /** false after a command timed out on a connection that still looks open (a stalled server). */
  let responsive = true
  let probe: NodeJS.Timeout | undefined

  const update = (): void => {
    const next: StoreState = !closing && responsive && client.status === 'ready' && sub.status === 'ready' && subscribed ? 'up' : 'down'
    if (next === state) return
    state = next
    if (next === 'up') o.logger?.info('redis store connected')
    else if (!closing) o.logger?.warn({ err: lastError }, 'redis store unreachable; using last-known shared state')
    for (const l of [...listeners]) {
      try {
        l(next)
      } catch (err) {
        o.logger?.error({ err: (err as Error).message }, 'store state listener failed')
      }
    }
  }
  const onError = (err: Error): void => {
    lastError = err.message
  }
  const resubscribe = (): void => {
    subscribed = false
    const names = [...channels.keys()]
    if (names.length === 0) {
      subscribed = true
      update()
      return
    }
    sub.subscribe(...names).then(() => {
      subscribed = true
      update()
    }, (err: Error) => {
      lastError = err.message
      // The connection is probably going away; its 'ready' after reconnecting retries.
      update()
    })
  }
  client.on('error', onError)
  sub.on('error', onError)
  client.on('ready', update)
  client.on('close', update)
  client.on('end', update)
  sub.on('ready', resubscribe)
  sub.on('close', () => {
    subscribed = false
    update()
  })
  sub.on('end', update)
  sub.on('message', (channel: string, message: string) => {
    const set = channels.get(channel)
    if (set === undefined) return
    for (const fn of [...set]) fn(message)
  })

  const fail = (err: unknown): never => {
    lastError = (err as Error).message
    // A timed-out command says the server is stalled although the socket is open: down until a PING answers.
    if (/timed out/i.test(lastError) && responsive) {
      responsive = false
      startProbe()
    }
    queueMicrotask(update)
    throw err
  }
  function startProbe (): void {
    if (probe !== undefined || closing) return
    probe = setInterval(() => {
      if (client.status !== 'ready') return
      client.ping().then(() => {
        responsive = true
        clearInterval(probe)
        probe = undefined
        update()
      }, () => undefined)
    }, Math.max(200, o.commandTimeoutMs))
    probe.unref()
  }

  return {
    kind: 'redis',
    get state () { return state },
    async get (key) {
      const v = await client.get(prefix + key).catch(fail)
      return v ?? undefined
    },
    async set (key, value, ttlMs) {
      await client.set(prefix + key, value, 'PX', Math.ceil(ttlMs)).catch(fail)
    },
    async delete (key) {
      return (await client.del(prefix + key).catch(fail)) > 0
    },
    async take (key) {
      // GETDEL (Redis >= 6.2) is atomic: a login state can be redeemed once across all replicas.
      const v = await client.getdel(prefix + key).catch(fail)
      return v ?? undefined
    },
    async list (p) {
      const keys: string[] = []
      let cursor = '0'
      let rounds = 0
      const match = escapeGlob(prefix + p) + '*'
      do {
        const [next, batch] = await client.scan(cursor, 'MATCH', match, 'COUNT', 1000).catch(fail)
        cursor = next
        for (const k of batch) keys.push(k)
        if (++rounds > MAX_SCAN_ROUNDS) throw new Error('redis SCAN did not finish')
      } while (cursor !== '0')
      const out: Array<[string, string]> = []
      for (let i = 0; i < keys.length; i += MAX_BATCH) {
        const chunk = [...new Set(keys.slice(i, i + MAX_BATCH))]
        const values = await client.mget(...chunk).catch(fail)
        for (let j = 0; j < chunk.length; j++) {
          const v = values[j]
          // A key that expired between SCAN and MGET is simply gone.
          if (v !== null && v !== undefined) out.push([(chunk[j] as string).slice(prefix.length), v])
        }
      }
      return out
    },
    async incr (key, by, ttlMs) {
      if (!Number.isSafeInteger(by)) throw new RangeError('by must be an integer')
      return Number(await scripts.kgIncr(prefix + key, by, Math.ceil(ttlMs)).catch(fail))
    },
    async consume (debits, policy: BucketPolicy) {
      const out: number[] = []
      for (let i = 0; i < debits.length; i += MAX_BATCH) {
        const chunk = debits.slice(i, i + MAX_BATCH)
        const res = await scripts.kgConsume(chunk.length, ...chunk.map((d) => prefix + d.key),
          policy.ratePerSecond, policy.burst, Math.ceil(policy.ttlMs), ...chunk.map((d) => d.amount)).catch(fail)
        for (const v of res) out.push(Number(v))
      }
      return out
    },
    async lease (requests, policy: BucketPolicy) {
      const out: Array<{ granted: number, left: number }> = []
      for (let i = 0; i < requests.length; i += MAX_BATCH) {
        const chunk = requests.slice(i, i + MAX_BATCH)
        const res = await scripts.kgLease(chunk.length, ...chunk.map((r) => prefix + r.key),
          policy.ratePerSecond, policy.burst, Math.ceil(policy.ttlMs), ...chunk.map((r) => r.want)).catch(fail)
        for (let j = 0; j < res.length; j += 2) out.push({ granted: Number(res[j]), left: Number(res[j + 1]) })
      }
      return out
    },
    async heartbeat (key, member, ttlMs) {
      return Number(await scripts.kgHeartbeat(prefix + key, member, Math.ceil(ttlMs)).catch(fail))
    },
    async publish (channel, message) {
      await client.publish(prefix + channel, message).catch(fail)
    },
    async subscribe (channel, onMessage) {
      const name = prefix + channel
      let set = channels.get(name)
      const first = set === undefined
      if (set === undefined) channels.set(name, set = new Set())
      const fn = (m: string): void => onMessage(m)
      set.add(fn)
      if (first && sub.status === 'ready') await sub.subscribe(name).catch(fail)
      return async () => {
        const s = channels.get(name)
        s?.delete(fn)
        if (s !== undefined && s.size === 0) {
          channels.delete(name)
          if (sub.status === 'ready') await sub.unsubscribe(name).catch(() => undefined)
        }
      }
    },
    onStateChange (listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    async close () {
      if (closing) return
      closing = true
      if (probe !== undefined) clearInterval(probe)
      update()
      listeners.clear()
      await Promise.all([client, sub].map(async (c) => {
        try {
          if (c.status === 'ready') await c.quit()
          else c.disconnect()
        } catch {
          c.disconnect()
        }
      }))
    },
  }
}

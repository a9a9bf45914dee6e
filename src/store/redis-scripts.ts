// The Lua scripts behind the Redis store's atomic operations (token buckets, heartbeats, counters), run on the server's clock.
import type { Redis } from 'ioredis'

// Rate-limit leases on the server's clock (TIME), so replica clocks never matter: refills the bucket, debits
// the requests the caller admitted on its local share (ARGV[3 + 2i]) from the refill before capping it at
// the burst (they used what refilled while the caller could not reach Redis), so the level may go below 0,
// never below -burst (a debt is repaid within (burst + 1) / rate seconds and Retry-After stays honest), then
// takes up to ARGV[2 + 2i] whole tokens, never more than it holds (a grant never goes below 0). Stored with
// full precision ('%.17g'). Returns granted, left per key.
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
  if now > ts then tokens = tokens + (now - ts) * rate / 1000; ts = now end
  tokens = math.max(-burst, math.min(burst, tokens - tonumber(ARGV[3 + 2 * i])))
  local granted = math.max(0, math.min(tonumber(ARGV[2 + 2 * i]), math.floor(tokens)))
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

/** The scripts as commands on the command connection (ioredis sends EVALSHA, falling back to EVAL once). */
export interface RedisScripts {
  kgLease: (numKeys: number, ...args: Array<string | number>) => Promise<string[]>
  kgHeartbeat: (key: string, member: string, ttl: number) => Promise<number>
  kgIncr: (key: string, by: number, ttl: number) => Promise<number>
}

/** Registers the scripts on `client`; returns them typed. */
export function defineScripts (client: Redis): RedisScripts {
  client.defineCommand('kgLease', { lua: LEASE_LUA })
  client.defineCommand('kgHeartbeat', { numberOfKeys: 1, lua: HEARTBEAT_LUA })
  client.defineCommand('kgIncr', { numberOfKeys: 1, lua: INCR_LUA })
  return client as unknown as RedisScripts
}

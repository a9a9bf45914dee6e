// The Redis shared-state store (ioredis): connection lifecycle, commands and scripts, pub/sub, state reporting.
import { Redis } from 'ioredis'
import { buildRedisOptions, type RedisStoreOptions } from './redis-options.js'
import { RedisSubscriptions } from './redis-pubsub.js'
import { defineScripts, type RedisScripts } from './redis-scripts.js'
import { RedisStateTracker } from './redis-state.js'
import type { BucketPolicy, LeaseGrant, LeaseRequest, Store, StoreState } from './types.js'

export { buildRedisOptions, type RedisStoreOptions } from './redis-options.js'

const MAX_SCAN_ROUNDS = 10_000
const MAX_BATCH = 500

function escapeGlob (s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => '\\' + c)
}

/**
 * One connection for commands, one for the subscription. `state` is `up` only while both are ready and
 * every channel is subscribed; each return to `up` is announced so that users resynchronise (pub/sub is
 * fire-and-forget: messages sent while disconnected are lost). Every key and channel gets `keyPrefix`.
 */
export class RedisStore implements Store {
  readonly kind = 'redis' as const
  readonly #prefix: string
  readonly #client: Redis
  readonly #sub: Redis
  readonly #scripts: RedisScripts
  readonly #tracker: RedisStateTracker
  readonly #subscriptions: RedisSubscriptions
  /** Every command's failure path: noted for the state, rethrown to the caller. */
  readonly #fail = (err: unknown): never => this.#tracker.commandFailed(err)

  constructor (o: RedisStoreOptions) {
    this.#prefix = o.keyPrefix
    const base = buildRedisOptions(o)
    this.#client = new Redis(base)
    this.#sub = new Redis(base)
    this.#scripts = defineScripts(this.#client)
    this.#tracker = new RedisStateTracker(this.#client, this.#sub, o.logger, o.commandTimeoutMs)
    this.#subscriptions = new RedisSubscriptions(this.#sub, this.#tracker)
    this.#watchConnections()
  }

  get state (): StoreState { return this.#tracker.state }

  async get (key: string): Promise<string | undefined> {
    const v = await this.#client.get(this.#prefix + key).catch(this.#fail)
    return v ?? undefined
  }

  async set (key: string, value: string, ttlMs: number): Promise<void> {
    await this.#client.set(this.#prefix + key, value, 'PX', Math.ceil(ttlMs)).catch(this.#fail)
  }

  async delete (key: string): Promise<boolean> {
    return (await this.#client.del(this.#prefix + key).catch(this.#fail)) > 0
  }

  /** GETDEL (Redis >= 6.2) is atomic: a login state can be redeemed once across all replicas. */
  async take (key: string): Promise<string | undefined> {
    const v = await this.#client.getdel(this.#prefix + key).catch(this.#fail)
    return v ?? undefined
  }

  async list (prefix: string): Promise<Array<[string, string]>> {
    return await this.#values(await this.#scanKeys(escapeGlob(this.#prefix + prefix) + '*'))
  }

  async incr (key: string, by: number, ttlMs: number): Promise<number> {
    if (!Number.isSafeInteger(by)) throw new RangeError('by must be an integer')
    return Number(await this.#scripts.kgIncr(this.#prefix + key, by, Math.ceil(ttlMs)).catch(this.#fail))
  }

  async lease (requests: readonly LeaseRequest[], policy: BucketPolicy): Promise<LeaseGrant[]> {
    const out: LeaseGrant[] = []
    for (let i = 0; i < requests.length; i += MAX_BATCH) {
      const chunk = requests.slice(i, i + MAX_BATCH)
      const res = await this.#scripts.kgLease(chunk.length, ...chunk.map((r) => this.#prefix + r.key),
        policy.ratePerSecond, policy.burst, Math.ceil(policy.ttlMs), ...chunk.flatMap((r) => [r.want, r.spent ?? 0])).catch(this.#fail)
      for (let j = 0; j < res.length; j += 2) out.push({ granted: Number(res[j]), left: Number(res[j + 1]) })
    }
    return out
  }

  async heartbeat (key: string, member: string, ttlMs: number): Promise<number> {
    return Number(await this.#scripts.kgHeartbeat(this.#prefix + key, member, Math.ceil(ttlMs)).catch(this.#fail))
  }

  async publish (channel: string, message: string): Promise<void> {
    await this.#client.publish(this.#prefix + channel, message).catch(this.#fail)
  }

  async subscribe (channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    return await this.#subscriptions.subscribe(this.#prefix + channel, onMessage)
  }

  onStateChange (listener: (state: StoreState) => void): () => void {
    return this.#tracker.onStateChange(listener)
  }

  /** `down` (announced once), then QUIT on ready connections and a disconnect on the others. */
  async close (): Promise<void> {
    if (!this.#tracker.close()) return
    await Promise.all([this.#client, this.#sub].map(async (c) => {
      try {
        if (c.status === 'ready') await c.quit()
        else c.disconnect()
      } catch {
        c.disconnect()
      }
    }))
  }

  /** Connection lifecycle: errors are noted, every ready/close/end re-evaluates the state, the subscription connection resubscribes when ready. */
  #watchConnections (): void {
    const client = this.#client
    const sub = this.#sub
    const tracker = this.#tracker
    const noteError = (err: Error): void => tracker.noteError(err)
    const update = (): void => tracker.update()
    client.on('error', noteError)
    sub.on('error', noteError)
    client.on('ready', update)
    client.on('close', update)
    client.on('end', update)
    sub.on('ready', () => this.#subscriptions.resubscribe())
    sub.on('close', () => {
      tracker.setSubscribed(false)
      tracker.update()
    })
    sub.on('end', update)
    sub.on('message', (channel: string, message: string) => this.#subscriptions.dispatch(channel, message))
  }

  /** Every key matching `match` (a glob), by SCAN (never KEYS: it would block the server), bounded in rounds. */
  async #scanKeys (match: string): Promise<string[]> {
    const keys: string[] = []
    let cursor = '0'
    let rounds = 0
    do {
      const [next, batch] = await this.#client.scan(cursor, 'MATCH', match, 'COUNT', 1000).catch(this.#fail)
      cursor = next
      for (const k of batch) keys.push(k)
      if (++rounds > MAX_SCAN_ROUNDS) throw new Error('redis SCAN did not finish')
    } while (cursor !== '0')
    return keys
  }

  /** The keys' values by MGET in batches, the deployment prefix removed; a key that expired since SCAN is simply gone. */
  async #values (keys: readonly string[]): Promise<Array<[string, string]>> {
    const out: Array<[string, string]> = []
    for (let i = 0; i < keys.length; i += MAX_BATCH) {
      const chunk = [...new Set(keys.slice(i, i + MAX_BATCH))]
      const values = await this.#client.mget(...chunk).catch(this.#fail)
      for (let j = 0; j < chunk.length; j++) {
        const v = values[j]
        if (v !== null && v !== undefined) out.push([(chunk[j] as string).slice(this.#prefix.length), v])
      }
    }
    return out
  }
}

/** The Redis store; see RedisStore. */
export function createRedisStore (o: RedisStoreOptions): Store {
  return new RedisStore(o)
}

// Shared pieces of the Redis store's unit tests: connections to a real redis-server (started by the test) with kubegate's options.
import { once } from 'node:events'
import { Redis } from 'ioredis'
import { buildRedisOptions } from '../../../src/store/redis-options.js'

/** A connection with the store's own options (no offline queue, bounded commands); `lazy`: not connected yet. */
export function connection (url: string, lazy = false): Redis {
  return new Redis({ ...buildRedisOptions({ url, keyPrefix: '', commandTimeoutMs: 2000 }), lazyConnect: lazy })
}

export async function ready (r: Redis): Promise<Redis> {
  if (r.status !== 'ready') await once(r, 'ready')
  return r
}

/** Polls `pred` until true (bounded in rounds, not in time: a slow machine only makes it slower). */
export async function until (pred: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (await pred()) return
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  throw new Error(`never happened: ${what}`)
}

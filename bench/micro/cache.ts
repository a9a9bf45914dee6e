import { tokenHash } from '../../src/auth/authenticator.js'
import { LruCache } from '../../src/auth/token-cache.js'
import type { MicroCase } from './harness.js'

export function cases (tokens: readonly string[]): MicroCase[] {
  const lru = new LruCache<number>(10_000)
  const keys = tokens.map((t) => tokenHash(t))
  keys.forEach((k, i) => lru.set(k, i, Date.now() + 3_600_000))
  let i = 0
  return [
    { name: 'token hash (sha256 base64url)', fn: () => tokenHash(tokens[(i++) % tokens.length] as string) },
    { name: 'LRU get, hit (500 entries)', fn: () => lru.get(keys[(i++) % keys.length] as string) },
    { name: 'cache lookup = hash + LRU get', fn: () => lru.get(tokenHash(tokens[(i++) % tokens.length] as string)) },
  ]
}

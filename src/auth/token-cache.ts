/**
 * A bounded LRU map with per-entry expiry on an injected clock. Map keeps insertion order, so the oldest
 * entry is the first key; a hit re-inserts the entry to mark it recently used.
 */
export class LruCache<V> {
  readonly #map = new Map<string, { value: V, expiresAt: number }>()
  readonly #max: number
  readonly #now: () => number

  constructor (maxEntries: number, now: () => number = Date.now) {
    this.#max = maxEntries
    this.#now = now
  }

  get (key: string): V | undefined {
    const e = this.#map.get(key)
    if (e === undefined) return undefined
    if (e.expiresAt <= this.#now()) {
      this.#map.delete(key)
      return undefined
    }
    this.#map.delete(key)
    this.#map.set(key, e)
    return e.value
  }

  set (key: string, value: V, expiresAt: number): void {
    if (this.#max <= 0 || expiresAt <= this.#now()) return
    this.#map.delete(key)
    this.#map.set(key, { value, expiresAt })
    if (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next().value as string
      this.#map.delete(oldest)
    }
  }

  delete (key: string): boolean {
    return this.#map.delete(key)
  }

  /** Removes every entry whose value matches; returns how many (revocation evicts by user or subject). */
  deleteWhere (predicate: (value: V, key: string) => boolean): number {
    let n = 0
    for (const [k, e] of this.#map) {
      if (predicate(e.value, k)) {
        this.#map.delete(k)
        n++
      }
    }
    return n
  }

  clear (): void {
    this.#map.clear()
  }

  get size (): number {
    return this.#map.size
  }
}

// The Redis store's state (up/down) from its two connections, its subscriptions and the server's answers; each change announced.
import type { Redis } from 'ioredis'
import type { Logger } from 'pino'
import type { StoreState } from './types.js'

/**
 * `up` only while both connections are ready, every channel is subscribed, and the server answers: a
 * command that timed out on a connection that still looks open (a stalled server) holds the state at
 * `down` until a PING answers. Each transition is announced to the listeners (an `up` after a `down`
 * means "resynchronise": pub/sub is fire-and-forget, messages sent while disconnected are lost).
 */
export class RedisStateTracker {
  readonly #client: Redis
  readonly #sub: Redis
  readonly #logger: Logger | undefined
  readonly #probeIntervalMs: number
  readonly #listeners = new Set<(s: StoreState) => void>()
  #state: StoreState = 'down'
  #subscribed = false
  #closing = false
  #lastError = ''
  /** false after a command timed out on a connection that still looks open (a stalled server). */
  #responsive = true
  #probe: NodeJS.Timeout | undefined

  constructor (client: Redis, sub: Redis, logger: Logger | undefined, commandTimeoutMs: number) {
    this.#client = client
    this.#sub = sub
    this.#logger = logger
    this.#probeIntervalMs = Math.max(200, commandTimeoutMs)
  }

  get state (): StoreState { return this.#state }
  get closing (): boolean { return this.#closing }

  /** Whether every channel is subscribed on the subscription connection (false while resubscribing). */
  setSubscribed (subscribed: boolean): void {
    this.#subscribed = subscribed
  }

  /** Remembers a connection's or command's error for the next `down` report (messages only, never arguments). */
  noteError (err: Error): void {
    this.#lastError = err.message
  }

  /** A command failed: noted, a timeout starts the responsiveness probe, the state is re-evaluated; rethrows. */
  commandFailed (err: unknown): never {
    this.noteError(err as Error)
    // A timed-out command says the server is stalled although the socket is open: down until a PING answers.
    if (/timed out/i.test(this.#lastError) && this.#responsive) {
      this.#responsive = false
      this.#startProbe()
    }
    queueMicrotask(() => this.update())
    throw err
  }

  /** Recomputes the state; on a change, logs it and calls every listener (a throwing listener is logged, the rest still run). */
  update (): void {
    const next: StoreState = !this.#closing && this.#responsive && this.#client.status === 'ready' &&
      this.#sub.status === 'ready' && this.#subscribed ? 'up' : 'down'
    if (next === this.#state) return
    this.#state = next
    if (next === 'up') this.#logger?.info('redis store connected')
    else if (!this.#closing) this.#logger?.warn({ err: this.#lastError }, 'redis store unreachable; using last-known shared state')
    for (const l of [...this.#listeners]) {
      try {
        l(next)
      } catch (err) {
        this.#logger?.error({ err: (err as Error).message }, 'store state listener failed')
      }
    }
  }

  onStateChange (listener: (s: StoreState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** The store is closing: `down` (announced once), no probe, no listeners. false when it was already closing. */
  close (): boolean {
    if (this.#closing) return false
    this.#closing = true
    if (this.#probe !== undefined) clearInterval(this.#probe)
    this.update()
    this.#listeners.clear()
    return true
  }

  #startProbe (): void {
    if (this.#probe !== undefined || this.#closing) return
    this.#probe = setInterval(() => {
      if (this.#client.status !== 'ready') return
      this.#client.ping().then(() => {
        this.#responsive = true
        clearInterval(this.#probe)
        this.#probe = undefined
        this.update()
      }, () => undefined)
    }, this.#probeIntervalMs)
    this.#probe.unref()
  }
}

// The Redis store's subscriptions: one subscription connection shared by every channel, resubscribed after each reconnect.
import type { Redis } from 'ioredis'
import type { RedisStateTracker } from './redis-state.js'

/**
 * Channels (already prefixed) and their handlers. ioredis's own resubscription is off: this one reports
 * to the state tracker, so the store turns `up` only once every channel is subscribed again.
 */
export class RedisSubscriptions {
  readonly #sub: Redis
  readonly #tracker: RedisStateTracker
  readonly #channels = new Map<string, Set<(m: string) => void>>()

  constructor (sub: Redis, tracker: RedisStateTracker) {
    this.#sub = sub
    this.#tracker = tracker
  }

  /** On each `ready` of the subscription connection: every channel subscribed again, then the state re-evaluated. */
  resubscribe (): void {
    this.#tracker.setSubscribed(false)
    const names = [...this.#channels.keys()]
    if (names.length === 0) {
      this.#tracker.setSubscribed(true)
      this.#tracker.update()
      return
    }
    this.#sub.subscribe(...names).then(() => {
      this.#tracker.setSubscribed(true)
      this.#tracker.update()
    }, (err: Error) => {
      this.#tracker.noteError(err)
      // The connection is probably going away; its 'ready' after reconnecting retries.
      this.#tracker.update()
    })
  }

  /** A message from the subscription connection, to every handler of its channel. */
  dispatch (channel: string, message: string): void {
    const set = this.#channels.get(channel)
    if (set === undefined) return
    for (const fn of [...set]) fn(message)
  }

  /** Adds a handler; the first for a channel subscribes it (now if connected, else at the next `ready`). */
  async subscribe (name: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    let set = this.#channels.get(name)
    const first = set === undefined
    if (set === undefined) this.#channels.set(name, set = new Set())
    const fn = (m: string): void => onMessage(m)
    set.add(fn)
    if (first && this.#sub.status === 'ready') await this.#sub.subscribe(name).catch((err: unknown) => this.#tracker.commandFailed(err))
    return async () => await this.#unsubscribe(name, fn)
  }

  /** Removes a handler; the last of a channel unsubscribes it (errors ignored: the next reconnect forgets it anyway). */
  async #unsubscribe (name: string, fn: (m: string) => void): Promise<void> {
    const s = this.#channels.get(name)
    s?.delete(fn)
    if (s !== undefined && s.size === 0) {
      this.#channels.delete(name)
      if (this.#sub.status === 'ready') await this.#sub.unsubscribe(name).catch(() => undefined)
    }
  }
}

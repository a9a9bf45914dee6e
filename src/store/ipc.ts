// The store of a worker when server.workers > 1 without Redis: every operation goes over IPC to the primary's one store.
import type { BucketPolicy, LeaseGrant, LeaseRequest, Store, StoreState } from './types.js'
import { isStoreDelivery, isStoreReply, STORE_TAG, type IpcChannel, type StoreDelivery, type StoreOp, type StoreReply } from './ipc-protocol.js'

export interface IpcStoreOptions {
  readonly channel: IpcChannel
  /** An operation unanswered for this long fails and the store is `down` (store.timeoutMilliseconds). */
  readonly commandTimeoutMs: number
  /** Operations waiting for an answer at most; beyond it an operation fails at once. Default 10,000. */
  readonly maxPending?: number
}

interface Pending {
  readonly resolve: (value: unknown) => void
  readonly reject: (err: Error) => void
  readonly timer: NodeJS.Timeout
}

/**
 * A Store whose every operation is answered by the primary (src/store/ipc-host.ts), so the workers of one
 * process tree share one revocation list and one rate-limit bucket per user, as replicas share Redis. Each call
 * carries an id; the pending table is bounded; an operation unanswered within the command timeout fails and
 * turns the store `down` (as a Redis command timeout does), so the same degrade paths apply: last-known
 * revocation list, local rate-limit share. Any answer turns it `up` again, after re-sending the subscriptions
 * (idempotent on the primary), so listeners resynchronise on `up` as after a Redis reconnect.
 */
export class IpcStore implements Store {
  readonly kind = 'ipc' as const
  readonly #channel: IpcChannel
  readonly #timeoutMs: number
  readonly #maxPending: number
  readonly #pending = new Map<number, Pending>()
  readonly #subscribers = new Map<string, Set<(m: string) => void>>()
  readonly #listeners = new Set<(s: StoreState) => void>()
  readonly #stopListening: () => void
  #nextId = 1
  #state: StoreState = 'up'
  #closed = false

  constructor (options: IpcStoreOptions) {
    this.#channel = options.channel
    this.#timeoutMs = options.commandTimeoutMs
    this.#maxPending = options.maxPending ?? 10_000
    this.#stopListening = options.channel.onMessage((m) => this.#receive(m))
  }

  get state (): StoreState { return this.#state }

  async get (key: string): Promise<string | undefined> { return await this.#call('get', [key]) as string | undefined }
  async set (key: string, value: string, ttlMs: number): Promise<void> { await this.#call('set', [key, value, ttlMs]) }
  async delete (key: string): Promise<boolean> { return await this.#call('delete', [key]) as boolean }
  async take (key: string): Promise<string | undefined> { return await this.#call('take', [key]) as string | undefined }
  async list (prefix: string): Promise<Array<[string, string]>> { return await this.#call('list', [prefix]) as Array<[string, string]> }
  async incr (key: string, by: number, ttlMs: number): Promise<number> { return await this.#call('incr', [key, by, ttlMs]) as number }
  async lease (requests: readonly LeaseRequest[], policy: BucketPolicy): Promise<LeaseGrant[]> {
    return await this.#call('lease', [requests, policy]) as LeaseGrant[]
  }

  async heartbeat (key: string, member: string, ttlMs: number): Promise<number> {
    return await this.#call('heartbeat', [key, member, ttlMs]) as number
  }

  async publish (channel: string, message: string): Promise<void> { await this.#call('publish', [channel, message]) }

  /** Registered here at once (a resubscription after an outage includes it); resolves once the primary confirmed it. */
  async subscribe (channel: string, onMessage: (message: string) => void): Promise<() => Promise<void>> {
    this.#check()
    let subs = this.#subscribers.get(channel)
    if (subs === undefined) this.#subscribers.set(channel, subs = new Set())
    const fn = (m: string): void => onMessage(m)
    subs.add(fn)
    await this.#call('subscribe', [channel])
    return async () => {
      const set = this.#subscribers.get(channel)
      set?.delete(fn)
      if (set === undefined || set.size > 0) return
      this.#subscribers.delete(channel)
      if (!this.#closed) await this.#call('unsubscribe', [channel]).catch(() => undefined)
    }
  }

  onStateChange (listener: (state: StoreState) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#stopListening()
    for (const [id, p] of this.#pending) {
      clearTimeout(p.timer)
      this.#pending.delete(id)
      p.reject(new Error('store closed'))
    }
    this.#subscribers.clear()
    this.#setState('down')
    this.#listeners.clear()
  }

  /** Operations waiting for the primary's answer (bounded by maxPending). */
  get pending (): number { return this.#pending.size }

  #call (op: StoreOp, args: readonly unknown[]): Promise<unknown> {
    this.#check()
    if (this.#pending.size >= this.#maxPending) return Promise.reject(new Error(`store: ${this.#maxPending} operations already wait for the primary`))
    const id = this.#nextId++
    return new Promise((resolve, reject) => {
      const fail = (err: Error): void => {
        const p = this.#pending.get(id)
        if (p === undefined) return
        clearTimeout(p.timer)
        this.#pending.delete(id)
        this.#setState('down')
        reject(err)
      }
      const timer = setTimeout(() => fail(new Error(`store: the primary did not answer ${op} within ${this.#timeoutMs} ms`)), this.#timeoutMs)
      this.#pending.set(id, { resolve, reject, timer })
      try {
        this.#channel.send({ t: STORE_TAG, id, op, args }, fail)
      } catch (err) {
        fail(err as Error)
      }
    })
  }

  #receive (m: unknown): void {
    if (isStoreReply(m)) this.#answer(m)
    else if (isStoreDelivery(m)) this.#deliver(m)
  }

  /** Hands a published message to this worker's subscribers, then tells the primary (the publisher waits for it). */
  #deliver (m: StoreDelivery): void {
    const subs = this.#subscribers.get(m.channel)
    try {
      if (subs !== undefined) for (const fn of [...subs]) fn(m.message)
    } finally {
      try {
        this.#channel.send({ t: STORE_TAG, ack: m.ack }, () => undefined)
      } catch {
        // The primary is gone; it waits for no one.
      }
    }
  }

  #answer (m: StoreReply): void {
    // Any answer, even one that arrives after its timeout, shows the primary is serving again.
    if (this.#state === 'down' && !this.#closed) this.#recover()
    const p = this.#pending.get(m.id)
    if (p === undefined) return
    clearTimeout(p.timer)
    this.#pending.delete(m.id)
    if (m.ok) p.resolve(m.value)
    else p.reject(new Error(m.error ?? 'store error'))
  }

  /** Re-sends every subscription (a timed-out subscribe may not have reached the primary), then announces `up`. */
  #recover (): void {
    this.#state = 'up'
    for (const channel of this.#subscribers.keys()) void this.#call('subscribe', [channel]).catch(() => undefined)
    for (const l of [...this.#listeners]) l('up')
  }

  #setState (s: StoreState): void {
    if (this.#state === s) return
    this.#state = s
    for (const l of [...this.#listeners]) l(s)
  }

  #check (): void {
    if (this.#closed) throw new Error('store closed')
  }
}

export function createIpcStore (options: IpcStoreOptions): Store {
  return new IpcStore(options)
}

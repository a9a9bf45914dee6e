// The primary's side of the workers' IPC store: answers every worker's operations from one store and fans out messages.
import type { BucketPolicy, LeaseRequest, Store } from './types.js'
import { isStoreCall, STORE_TAG, type IpcChannel, type StoreCall } from './ipc-protocol.js'

/** What one attached worker has subscribed to on the store: channel -> the function that ends it. */
type Subscriptions = Map<string, Promise<() => Promise<void>>>

/**
 * Serves the workers' IpcStores from one store (a MemoryStore in the primary): each call is answered on the
 * channel it came from, with its id. A subscription is one per worker and channel (a repeated subscribe is a
 * no-op), and a message published by any worker reaches every worker subscribed to its channel, the publisher
 * included, as Redis pub/sub does.
 */
export class StoreHost {
  readonly #store: Store

  constructor (store: Store) {
    this.#store = store
  }

  /** Starts answering this worker; the returned function ends its subscriptions (call it when the worker exits). */
  attach (channel: IpcChannel): () => Promise<void> {
    const subs: Subscriptions = new Map()
    const stop = channel.onMessage((m) => {
      if (isStoreCall(m)) void this.#serve(channel, subs, m)
    })
    return async () => {
      stop()
      const all = [...subs.values()]
      subs.clear()
      for (const s of all) await s.then((end) => end(), () => undefined)
    }
  }

  async #serve (channel: IpcChannel, subs: Subscriptions, call: StoreCall): Promise<void> {
    let reply: object
    try {
      reply = { t: STORE_TAG, id: call.id, ok: true, value: await this.#run(channel, subs, call) }
    } catch (err) {
      reply = { t: STORE_TAG, id: call.id, ok: false, error: (err as Error).message }
    }
    try {
      channel.send(reply, () => undefined)
    } catch {
      // The worker is gone: nobody waits for this answer.
    }
  }

  #run (channel: IpcChannel, subs: Subscriptions, call: StoreCall): Promise<unknown> {
    const s = this.#store
    const a = call.args
    switch (call.op) {
      case 'get': return s.get(a[0] as string)
      case 'set': return s.set(a[0] as string, a[1] as string, a[2] as number)
      case 'delete': return s.delete(a[0] as string)
      case 'take': return s.take(a[0] as string)
      case 'list': return s.list(a[0] as string)
      case 'incr': return s.incr(a[0] as string, a[1] as number, a[2] as number)
      case 'lease': return s.lease(a[0] as LeaseRequest[], a[1] as BucketPolicy)
      case 'heartbeat': return s.heartbeat(a[0] as string, a[1] as string, a[2] as number)
      case 'publish': return s.publish(a[0] as string, a[1] as string)
      case 'subscribe': return this.#subscribe(channel, subs, a[0] as string)
      case 'unsubscribe': return this.#unsubscribe(subs, a[0] as string)
      default: return Promise.reject(new Error(`unknown store operation ${String(call.op)}`))
    }
  }

  async #subscribe (channel: IpcChannel, subs: Subscriptions, name: string): Promise<void> {
    let sub = subs.get(name)
    if (sub === undefined) {
      sub = this.#store.subscribe(name, (message) => {
        try {
          channel.send({ t: STORE_TAG, channel: name, message }, () => undefined)
        } catch {
          // The worker is gone; its exit ends this subscription.
        }
      })
      subs.set(name, sub)
      sub.catch(() => subs.delete(name))
    }
    await sub
  }

  async #unsubscribe (subs: Subscriptions, name: string): Promise<void> {
    const sub = subs.get(name)
    if (sub === undefined) return
    subs.delete(name)
    await (await sub)()
  }
}

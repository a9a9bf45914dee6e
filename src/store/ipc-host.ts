// The primary's side of the workers' IPC store: answers every worker's operations from one store and fans out messages.
import type { BucketPolicy, LeaseRequest, Store } from './types.js'
import { isStoreAck, isStoreCall, STORE_TAG, type IpcChannel, type StoreCall } from './ipc-protocol.js'

export interface StoreHostOptions {
  /**
   * A publish is answered once every subscribed worker acknowledged the message, or after this long (then the
   * slow worker still gets it, later). Keep it under the workers' command timeout. Default 100 ms.
   */
  readonly ackTimeoutMs?: number
}

/** One attached worker: its channel, the channels it subscribed to, the deliveries it has yet to acknowledge. */
interface Attachment {
  readonly channel: IpcChannel
  readonly subscribed: Set<string>
  readonly acks: Map<number, () => void>
}

/**
 * Serves the workers' IpcStores from one store (a MemoryStore in the primary): each call is answered on the
 * channel it came from, with its id. Pub/sub is done here, not by the store, so that a publish can wait for the
 * workers: a message goes to every worker subscribed to its channel, the publisher included, and the publish is
 * answered once each has handled it (or after `ackTimeoutMs`). So when a revocation's publish returns, every
 * worker that answered in time already refuses the revoked tokens, as the one process would.
 */
export class StoreHost {
  readonly #store: Store
  readonly #ackTimeoutMs: number
  readonly #attached = new Set<Attachment>()
  #nextAck = 1

  constructor (store: Store, options: StoreHostOptions = {}) {
    this.#store = store
    this.#ackTimeoutMs = options.ackTimeoutMs ?? 100
  }

  /** Starts answering this worker; the returned function forgets it (call it when the worker exits). */
  attach (channel: IpcChannel): () => Promise<void> {
    const a: Attachment = { channel, subscribed: new Set(), acks: new Map() }
    this.#attached.add(a)
    const stop = channel.onMessage((m) => {
      if (isStoreCall(m)) void this.#serve(a, m)
      else if (isStoreAck(m)) a.acks.get(m.ack)?.()
    })
    return async () => {
      stop()
      this.#attached.delete(a)
      for (const done of [...a.acks.values()]) done()
    }
  }

  async #serve (a: Attachment, call: StoreCall): Promise<void> {
    let reply: object
    try {
      reply = { t: STORE_TAG, id: call.id, ok: true, value: await this.#run(a, call) }
    } catch (err) {
      reply = { t: STORE_TAG, id: call.id, ok: false, error: (err as Error).message }
    }
    try {
      a.channel.send(reply, () => undefined)
    } catch {
      // The worker is gone: nobody waits for this answer.
    }
  }

  async #run (a: Attachment, call: StoreCall): Promise<unknown> {
    const s = this.#store
    const v = call.args
    switch (call.op) {
      case 'get': return await s.get(v[0] as string)
      case 'set': return await s.set(v[0] as string, v[1] as string, v[2] as number)
      case 'delete': return await s.delete(v[0] as string)
      case 'take': return await s.take(v[0] as string)
      case 'list': return await s.list(v[0] as string)
      case 'incr': return await s.incr(v[0] as string, v[1] as number, v[2] as number)
      case 'lease': return await s.lease(v[0] as LeaseRequest[], v[1] as BucketPolicy)
      case 'heartbeat': return await s.heartbeat(v[0] as string, v[1] as string, v[2] as number)
      case 'publish': return await this.#publish(v[0] as string, v[1] as string)
      case 'subscribe': return void a.subscribed.add(v[0] as string)
      case 'unsubscribe': return void a.subscribed.delete(v[0] as string)
      default: throw new Error(`unknown store operation ${String(call.op)}`)
    }
  }

  /** Delivers to every subscribed worker and waits until each acknowledged it or the wait ran out. */
  async #publish (channel: string, message: string): Promise<void> {
    const to = [...this.#attached].filter((a) => a.subscribed.has(channel))
    await Promise.all(to.map((a) => this.#deliver(a, channel, message)))
  }

  #deliver (a: Attachment, channel: string, message: string): Promise<void> {
    const ack = this.#nextAck++
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        a.acks.delete(ack)
        resolve()
      }
      const timer = setTimeout(done, this.#ackTimeoutMs)
      a.acks.set(ack, done)
      try {
        a.channel.send({ t: STORE_TAG, channel, message, ack }, done)
      } catch {
        done()
      }
    })
  }
}

// The messages between a worker's IPC store and the primary's store host (node:cluster), and the channel they travel on.

/** Marks kubegate's store messages among whatever else travels on the IPC channel. */
export const STORE_TAG = 'kubegate:store'

export type StoreOp = 'get' | 'set' | 'delete' | 'take' | 'list' | 'incr' | 'lease' | 'heartbeat' | 'publish' | 'subscribe' | 'unsubscribe'

/** Worker to primary: one store operation. */
export interface StoreCall {
  readonly t: typeof STORE_TAG
  readonly id: number
  readonly op: StoreOp
  readonly args: readonly unknown[]
}

/** Primary to worker: the answer to the call with the same id. */
export interface StoreReply {
  readonly t: typeof STORE_TAG
  readonly id: number
  readonly ok: boolean
  readonly value?: unknown
  readonly error?: string
}

/** Primary to worker: a message published on a channel the worker subscribed to; acknowledged once handled. */
export interface StoreDelivery {
  readonly t: typeof STORE_TAG
  readonly channel: string
  readonly message: string
  readonly ack: number
}

/** Worker to primary: the delivery with this `ack` went to every subscriber of this worker. */
export interface StoreAck {
  readonly t: typeof STORE_TAG
  readonly ack: number
}

/**
 * One end of a message channel: `process` in a worker, a cluster `Worker` in the primary, or a fake pair in
 * tests. Messages are serialised (JSON) and arrive in order.
 */
export interface IpcChannel {
  /** Throws, or calls back with an error, when the channel is closed. */
  send: (message: unknown, onError: (err: Error) => void) => void
  /** Returns the function that stops listening. */
  onMessage: (listener: (message: unknown) => void) => () => void
}

function tagged (m: unknown): m is { t: string } {
  return typeof m === 'object' && m !== null && (m as { t?: unknown }).t === STORE_TAG
}

export function isStoreCall (m: unknown): m is StoreCall {
  return tagged(m) && typeof (m as StoreCall).id === 'number' && typeof (m as StoreCall).op === 'string' && Array.isArray((m as StoreCall).args)
}

export function isStoreReply (m: unknown): m is StoreReply {
  return tagged(m) && typeof (m as StoreReply).id === 'number' && typeof (m as StoreReply).ok === 'boolean'
}

export function isStoreDelivery (m: unknown): m is StoreDelivery {
  return tagged(m) && typeof (m as StoreDelivery).channel === 'string' && typeof (m as StoreDelivery).message === 'string' &&
    typeof (m as StoreDelivery).ack === 'number'
}

export function isStoreAck (m: unknown): m is StoreAck {
  return tagged(m) && typeof (m as StoreAck).ack === 'number' && !('channel' in m) && !('id' in m)
}

/** The worker's end: its IPC channel to the primary. */
export function processChannel (proc: NodeJS.Process = process): IpcChannel {
  return {
    send (message, onError) {
      if (proc.send === undefined) throw new Error('no IPC channel to the primary')
      proc.send(message, (err: Error | null) => { if (err !== null) onError(err) })
    },
    onMessage (listener) {
      proc.on('message', listener)
      return () => { proc.off('message', listener) }
    },
  }
}

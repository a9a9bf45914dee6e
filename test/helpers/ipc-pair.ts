// Test helper: two connected fake IPC channels (JSON-serialised, delivered in order on a later turn), with a switch to stall one direction.
import type { IpcChannel } from '../../src/store/ipc-protocol.js'

export interface IpcPair {
  /** The worker's end (what an IpcStore is given). */
  readonly worker: IpcChannel
  /** The primary's end (what StoreHost.attach is given). */
  readonly primary: IpcChannel
  /** While true, messages to the primary are held (a primary that does not answer); set false to deliver them. */
  stallPrimary: (stalled: boolean) => void
  /** Closes both ends: every later send fails as on a dead process. */
  close: () => void
}

class End implements IpcChannel {
  readonly #listeners = new Set<(m: unknown) => void>()
  peer: End | undefined
  held: unknown[] | undefined
  closed = false

  send (message: unknown, onError: (err: Error) => void): void {
    if (this.closed) {
      onError(new Error('channel closed'))
      return
    }
    const copy = JSON.parse(JSON.stringify(message)) as unknown
    const peer = this.peer as End
    setImmediate(() => peer.deliver(copy))
  }

  deliver (m: unknown): void {
    if (this.held !== undefined) this.held.push(m)
    else for (const l of [...this.#listeners]) l(m)
  }

  onMessage (listener: (m: unknown) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }
}

export function ipcPair (): IpcPair {
  const worker = new End()
  const primary = new End()
  worker.peer = primary
  primary.peer = worker
  return {
    worker,
    primary,
    stallPrimary (stalled) {
      if (stalled) {
        primary.held ??= []
        return
      }
      const held = primary.held ?? []
      primary.held = undefined
      for (const m of held) primary.deliver(m)
    },
    close () {
      worker.closed = true
      primary.closed = true
    },
  }
}

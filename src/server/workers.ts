// Multi-process mode: several kubegate workers behind one listening socket (node:cluster), one store and one scrape.
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'
import { StoreHost } from '../store/ipc-host.js'
import type { IpcChannel } from '../store/ipc-protocol.js'
import type { Store } from '../store/types.js'
import { WorkerAsker, type AskKind } from './worker-asks.js'

export interface WorkerSupervisorOptions {
  /** Worker processes to keep running (server.workers). */
  readonly workers: number
  readonly logger: Logger
  /** The store the workers' IPC stores are answered from (src/store/ipc.ts); kept by the caller. */
  readonly store: Store
  /** How long a publish waits for each worker's acknowledgement (StoreHostOptions.ackTimeoutMs). */
  readonly ackTimeoutMs?: number
  /** A worker that dies is replaced after this delay (bounded so a crash loop cannot spin a core). */
  readonly restartDelayMs?: number
}

/** A listening worker's answer to an ask, with its slot (0 to workers - 1; a replacement takes the slot of the one it replaces). */
export interface WorkerAnswer {
  readonly slot: number
  readonly value: unknown
}

export interface WorkerSupervisor {
  /** Resolves once every worker has its listener up. */
  readonly ready: Promise<void>
  /**
   * Asks every listening worker (only those get connections; one still starting has nothing to tell); one that
   * does not answer within `timeoutMs` (or fails) is left out. `live`: forked and not exited.
   */
  askAll: (kind: AskKind, timeoutMs: number) => Promise<{ answers: WorkerAnswer[], live: number, listening: number }>
  /** Forwards SIGHUP (reload the configuration) to every live worker; returns how many. */
  reload: () => number
  /** Asks every worker to shut down gracefully (SIGTERM) and resolves when all have exited. */
  close: () => Promise<void>
}

/** The primary's end of one worker's IPC channel. */
export function workerChannel (w: Worker): IpcChannel {
  return {
    send (message, onError) {
      w.send(message as Parameters<Worker['send']>[0], (err: Error | null) => { if (err !== null) onError(err) })
    },
    onMessage (listener) {
      const fn = (m: unknown): void => listener(m)
      w.on('message', fn)
      return () => { w.off('message', fn) }
    },
  }
}

/** What the primary keeps per live worker. */
interface Slot {
  readonly slot: number
  readonly asker: WorkerAsker
  readonly detach: () => Promise<void>
  listening: boolean
}

/**
 * Runs `workers` copies of the current entry point with node:cluster, sharing one listening socket (the
 * primary accepts and hands connections round-robin). Each worker is a complete kubegate with its own token
 * cache and key set; what must hold across workers goes through the primary: the store (revocations, rate
 * limits, logins in progress) is answered here over IPC, and the metrics listener runs here and asks each
 * worker (src/server/cluster-metrics.ts). A worker that dies is replaced in its slot.
 * Call from the primary only; workers call `start()` as usual.
 */
export function superviseWorkers (options: WorkerSupervisorOptions): WorkerSupervisor {
  if (!cluster.isPrimary) throw new Error('superviseWorkers must run in the primary process')
  const { logger } = options
  const restartDelayMs = options.restartDelayMs ?? 1000
  const host = new StoreHost(options.store, { ackTimeoutMs: options.ackTimeoutMs })
  const slots = new Map<Worker, Slot>()
  let closing = false
  let listening = 0
  let resolveReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { resolveReady = resolve })

  const spawn = (slot: number): Worker => {
    const w = cluster.fork()
    const channel = workerChannel(w)
    const s: Slot = { slot, asker: new WorkerAsker(channel), detach: host.attach(channel), listening: false }
    slots.set(w, s)
    logger.info({ slot, pid: w.process.pid }, 'worker started')
    w.once('listening', () => {
      s.listening = true
      listening++
      if (listening === options.workers) resolveReady()
    })
    w.once('exit', (code, signal) => {
      slots.delete(w)
      s.asker.close()
      void s.detach()
      if (closing) return
      logger.error({ pid: w.process.pid, slot, code, signal }, 'worker exited; replacing it')
      const t = setTimeout(() => { if (!closing) spawn(slot) }, restartDelayMs)
      t.unref()
    })
    return w
  }
  for (let i = 0; i < options.workers; i++) spawn(i)
  logger.info({ workers: options.workers }, 'worker processes started')

  return {
    ready,
    async askAll (kind, timeoutMs) {
      const live = [...slots.values()]
      const asked = live.filter((s) => s.listening)
      const settled = await Promise.allSettled(asked.map(async (s) => ({ slot: s.slot, value: await s.asker.ask(kind, timeoutMs) })))
      const answers = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))
      return { answers: answers.sort((a, b) => a.slot - b.slot), live: live.length, listening: asked.length }
    },
    reload () {
      const live = [...slots.keys()].filter((w) => !w.isDead())
      for (const w of live) w.process.kill('SIGHUP')
      return live.length
    },
    close () {
      closing = true
      const all = [...slots.keys()].filter((w) => !w.isDead())
      return Promise.all(all.map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve())
        w.process.kill('SIGTERM')
        const t = setTimeout(() => w.process.kill('SIGKILL'), 10_000)
        t.unref()
      }))).then(() => undefined)
    },
  }
}

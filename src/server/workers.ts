// Multi-process mode: several kubegate workers behind one listening socket (node:cluster).
import cluster, { type Worker } from 'node:cluster'
import type { Logger } from 'pino'

export interface WorkerSupervisorOptions {
  /** Worker processes to keep running (server.workers). */
  readonly workers: number
  readonly logger: Logger
  /** A worker that dies is replaced after this delay (bounded so a crash loop cannot spin a core). */
  readonly restartDelayMs?: number
}

export interface WorkerSupervisor {
  /** Resolves once every worker has its listener up. */
  readonly ready: Promise<void>
  /** Asks every worker to shut down gracefully (SIGTERM) and resolves when all have exited. */
  close: () => Promise<void>
}

/**
 * Runs `workers` copies of the current entry point with node:cluster, sharing one listening socket
 * (the primary accepts and hands connections round-robin). Each worker is a complete kubegate with its own
 * token cache and key set: nothing is shared, so no cross-process lock sits on the request path, and a
 * token verified in one worker is verified once more in another (bounded by the worker count).
 * Call from the primary only; workers call `start()` as usual.
 */
export function superviseWorkers (options: WorkerSupervisorOptions): WorkerSupervisor {
  if (!cluster.isPrimary) throw new Error('superviseWorkers must run in the primary process')
  const { logger } = options
  const restartDelayMs = options.restartDelayMs ?? 1000
  let closing = false
  let listening = 0
  let resolveReady: () => void = () => {}
  const ready = new Promise<void>((resolve) => { resolveReady = resolve })

  const spawn = (): Worker => {
    const w = cluster.fork()
    w.once('listening', () => {
      listening++
      if (listening === options.workers) resolveReady()
    })
    return w
  }
  cluster.on('exit', (w, code, signal) => {
    if (closing) return
    logger.error({ pid: w.process.pid, code, signal }, 'worker exited; replacing it')
    const t = setTimeout(() => { if (!closing) spawn() }, restartDelayMs)
    t.unref()
  })
  for (let i = 0; i < options.workers; i++) spawn()
  logger.info({ workers: options.workers }, 'worker processes started')

  return {
    ready,
    close () {
      closing = true
      const all = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && !w.isDead())
      return Promise.all(all.map((w) => new Promise<void>((resolve) => {
        w.once('exit', () => resolve())
        w.process.kill('SIGTERM')
        const t = setTimeout(() => w.process.kill('SIGKILL'), 10_000)
        t.unref()
      }))).then(() => undefined)
    },
  }
}

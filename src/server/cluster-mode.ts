// `server.workers` > 1 as `kubegate serve` runs it: the worker count, the primary (store, metrics, probes, SIGHUP) and each worker's wiring.
import { readFileSync } from 'node:fs'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { availableParallelism } from 'node:os'
import type { Logger } from 'pino'
import { collectDefaultMetrics, Gauge, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client'
import type { Config } from '../config/load.js'
import type { Kubegate, StartOptions } from '../main.js'
import { mergeProcessMetrics, type ProcessMetrics } from '../metrics/aggregate.js'
import { startMetricsServer, type MetricsServer } from '../metrics/server.js'
import { configuresRedis } from '../shared-state/shared-state.js'
import { createIpcStore } from '../store/ipc.js'
import { processChannel } from '../store/ipc-protocol.js'
import { MemoryStore } from '../store/memory.js'
import { LOGIN_KEY_PREFIX } from '../web/state-store.js'
import { liveness, replyReadiness, type ReadinessReport } from './probes.js'
import { answerAsks } from './worker-asks.js'
import { superviseWorkers, type WorkerSupervisor } from './workers.js'

/** The most workers `server.workers: 0` starts (the schema's own maximum for an explicit count). */
const MAX_WORKERS = 64
/** A worker's metrics must arrive within this, or that scrape goes without them. */
const METRICS_ASK_MS = 5000
/** Under Kubernetes' default probe timeout (1 s). */
const READINESS_ASK_MS = 800
/** Logins in progress the primary's store keeps at most (as the single process's own login store: /login is unauthenticated). */
const MAX_LOGINS_IN_PROGRESS = 10_000
/** How often the primary's store drops what expired and nobody reads again (abandoned logins, idle users' buckets). */
const SWEEP_MS = 60_000

/**
 * CPUs the cgroup (v2 `cpu.max`, else v1 CFS quota) lets this process use, rounded up; undefined without a limit.
 * os.availableParallelism() sees the CPU set, not a quota: under a Kubernetes CPU limit it counts the node's cores.
 */
export function cgroupCpuLimit (read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  const quota = (q: number, period: number): number | undefined => (q > 0 && period > 0 ? Math.max(1, Math.ceil(q / period)) : undefined)
  try {
    const [q, period] = read('/sys/fs/cgroup/cpu.max').trim().split(/\s+/)
    return q === 'max' ? undefined : quota(Number(q), Number(period))
  } catch {}
  try {
    return quota(Number(read('/sys/fs/cgroup/cpu/cpu.cfs_quota_us').trim()), Number(read('/sys/fs/cgroup/cpu/cpu.cfs_period_us').trim()))
  } catch {
    return undefined
  }
}

/**
 * The processes to run for `server.workers`: the number itself, or for 0 (the default) the CPUs available to
 * the process, as HAProxy sizes its threads: os.availableParallelism(), bounded by the cgroup CPU limit, at most 64.
 */
export function workerCount (setting: number, cpus: () => number = availableParallelism, limit: () => number | undefined = cgroupCpuLimit): number {
  if (setting > 0) return setting
  return Math.max(1, Math.min(MAX_WORKERS, cpus(), limit() ?? Infinity))
}

/** What a worker passes to start(): the IPC store (unless Redis is configured: it is shared already), no metrics listener. */
export function workerStartOptions (config: Config): Pick<StartOptions, 'store' | 'metricsListener'> {
  return {
    metricsListener: false,
    store: configuresRedis(config.store) ? undefined : createIpcStore({ channel: processChannel(), commandTimeoutMs: config.store.timeoutMilliseconds }),
  }
}

/**
 * A worker answers the primary's questions (its metrics, its readiness) from the kubegate `started` resolves to.
 * Call before start(), so that a question asked as soon as the listener is up finds an answer.
 */
export function answerPrimary (started: Promise<Kubegate>): () => void {
  return answerAsks(processChannel(), {
    metrics: async () => (await started).metrics.registry.getMetricsAsJSON(),
    readiness: async () => (await started).readiness(),
  })
}

export interface Primary {
  readonly supervisor: WorkerSupervisor
  readonly metricsServer: MetricsServer
  /** SIGHUP: every worker reloads its configuration. */
  reload: () => void
  /** Stops the workers (gracefully, SIGTERM), then the metrics listener. */
  close: () => Promise<void>
}

/**
 * The primary of `server.workers` > 1: forks the workers, answers their store (one memory store, unless Redis
 * is configured), and serves the metrics and probe listener for all of them (docs/operations.md, "Workers").
 */
export async function startPrimary (config: Config, workers: number, logger: Logger): Promise<Primary> {
  const store = new MemoryStore({ capped: { prefix: LOGIN_KEY_PREFIX, maxEntries: MAX_LOGINS_IN_PROGRESS } })
  const sweep = setInterval(() => store.sweep(), SWEEP_MS)
  sweep.unref()
  // A publish (a revocation) waits for every worker's acknowledgement, within half the workers' command timeout.
  const ackTimeoutMs = Math.max(5, Math.floor(config.store.timeoutMilliseconds / 2))
  const supervisor = superviseWorkers({ workers, logger, store, ackTimeoutMs })
  const own = primaryRegistry(workers)
  const metricsServer = await startMetricsServer({
    host: config.metrics.listen.host,
    port: config.metrics.listen.port,
    registry: { contentType: own.contentType, metrics: async () => await (await scrape(supervisor, own)).metrics() },
    probes: new Map([['/livez', liveness], ['/healthz', liveness], ['/readyz', (req: IncomingMessage, res: ServerResponse) => {
      void workersReadiness(supervisor).then((r) => replyReadiness(req, res, r))
    }]]),
    logger,
  }).catch(async (err: unknown) => {
    clearInterval(sweep)
    await supervisor.close()
    throw err
  })
  logger.info({ workers, metrics: metricsServer.url, store: configuresRedis(config.store) ? 'redis' : 'ipc' }, 'primary serving metrics for its workers')
  return {
    supervisor,
    metricsServer,
    reload () {
      const n = supervisor.reload()
      logger.info({ workers: n }, 'SIGHUP forwarded to the workers')
    },
    async close () {
      clearInterval(sweep)
      await supervisor.close()
      await metricsServer.close()
      await store.close()
    },
  }
}

/** The primary's own metrics: its process metrics and how many workers there are and answered. */
function primaryRegistry (workers: number): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  new Gauge({ name: 'kubegate_workers', help: 'Worker processes configured (server.workers, 0 resolved).', registers: [registry] }).set(workers)
  return registry
}

/** Every listening worker's metrics and the primary's own, merged (src/metrics/aggregate.ts). */
async function scrape (supervisor: WorkerSupervisor, own: Registry): Promise<Registry> {
  const { answers } = await supervisor.askAll('metrics', METRICS_ASK_MS)
  const all: ProcessMetrics[] = answers.map((a) => ({ worker: String(a.slot), metrics: a.value as Array<MetricObjectWithValues<MetricValue<string>>> }))
  all.push({ worker: 'primary', metrics: await own.getMetricsAsJSON() })
  const answering = { name: 'kubegate_workers_scraped', help: 'Workers whose metrics are in this scrape (one that did not answer in 5 s is missing).', type: 'gauge', aggregator: 'sum', values: [{ labels: {}, value: answers.length }] }
  all.push({ worker: 'primary', metrics: [answering as unknown as MetricObjectWithValues<MetricValue<string>>] })
  return mergeProcessMetrics(all)
}

/**
 * Ready when at least one worker listens and every listening worker answers that it is ready (connections go
 * only to listening workers; a listening one that refuses would fail requests). Each line is prefixed by its worker.
 */
async function workersReadiness (supervisor: WorkerSupervisor): Promise<ReadinessReport> {
  const { answers, listening } = await supervisor.askAll('readiness', READINESS_ASK_MS)
  let ready = listening > 0 && answers.length === listening
  let text = listening > 0 ? '' : '[-]workers failed: no worker is listening\n'
  const degraded = new Set<string>()
  for (const a of answers) {
    const r = a.value as ReadinessReport
    ready &&= r.ready
    text += r.text.replace(/^\[(.)\]/gm, `[$1]worker ${a.slot}: `)
    for (const d of r.degraded) degraded.add(d)
  }
  if (answers.length < listening) text += `[-]workers failed: ${listening - answers.length} of ${listening} did not answer\n`
  return { ready, text, degraded: [...degraded] }
}

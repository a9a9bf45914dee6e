/**
 * kubegate under benchmark, in its own process so it can be pinned, profiled and measured (RSS).
 * argv: <json file> with `{ tree, bare?: {user, groups}, workers? }`. Starts exactly what `kubegate serve`
 * starts (loadConfig + start), with the access log going to stdout as in production (stdout is /dev/null
 * here). `bare` sets the hidden StartOptions.unsafeBenchBarePassThrough (authentication off) for the
 * "bare pass-through" reference; it exists only in this harness.
 * IPC: `mem` (gc, then memory figures), `authenticate-file` (fill the token cache), `stats`, `snapshot` (heap
 * snapshot to `file`, for bench/watch-mem.ts).
 */
import cluster from 'node:cluster'
import { readFileSync } from 'node:fs'
import type * as ConfigLoad from '../../src/config/load.js'
import type * as LogModule from '../../src/log/logger.js'
import type * as MainModule from '../../src/main.js'
import type * as ClusterModule from '../../src/server/cluster-mode.js'
import { kubegateModule } from '../lib/dist.js'

// The compiled tree when the orchestrator built one (what production runs), else src/ under tsx.
const { loadConfig } = await kubegateModule<typeof ConfigLoad>('config/load.js')
const { createLogger } = await kubegateModule<typeof LogModule>('log/logger.js')
const { start } = await kubegateModule<typeof MainModule>('main.js')
const { answerPrimary, startPrimary, workerCount, workerStartOptions } = await kubegateModule<typeof ClusterModule>('server/cluster-mode.js')
type Kubegate = MainModule.Kubegate

interface Spec { tree: Record<string, unknown>, bare?: { user: string, groups: string[] }, workers?: number }
const spec = JSON.parse(readFileSync(process.argv[2] as string, 'utf8')) as Spec
const config = loadConfig({ overrides: spec.tree, env: {} })
const workers = spec.workers ?? workerCount(config.server.workers)
const multi = workers > 1 || cluster.isWorker
const logger = createLogger({ level: config.log.level, sharedStdout: multi })

if (cluster.isPrimary && workers > 1) {
  // As `kubegate serve` runs server.workers > 1: the primary holds the store and the metrics listener.
  const primary = await startPrimary(config, workers, logger)
  const sup = primary.supervisor
  await sup.ready
  process.send?.({ type: 'ready', url: `https://127.0.0.1:${config.listen.port}`, pids: Object.values(cluster.workers ?? {}).map((w) => w?.process.pid) })
  process.on('message', (m: { type: string, id?: number }) => {
    if (m.type === 'stats') process.send?.({ type: 'stats', id: m.id, size: -1 })
  })
  const stop = (): void => { void primary.close().then(() => process.exit(0)) }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
} else {
  const started = start(config, { logger, ...(cluster.isWorker ? workerStartOptions(config) : {}), ...(spec.bare === undefined ? {} : { unsafeBenchBarePassThrough: spec.bare }) })
  if (cluster.isWorker) answerPrimary(started)
  const kg: Kubegate = await started
  if (cluster.isPrimary) process.send?.({ type: 'ready', url: kg.url })
  const gc = (globalThis as { gc?: () => void }).gc
  process.on('message', (m: { type: string, id?: number, file?: string }) => {
    void (async () => {
      switch (m.type) {
        case 'mem': {
          for (let i = 0; i < 3; i++) gc?.()
          const u = process.memoryUsage()
          process.send?.({ type: 'mem', id: m.id, heapUsed: u.heapUsed, heapTotal: u.heapTotal, rss: u.rss, external: u.external, arrayBuffers: u.arrayBuffers, cacheSize: kg.authenticator.size, gc: gc !== undefined })
          break
        }
        case 'authenticate-file': {
          const tokens = readFileSync(m.file as string, 'utf8').split('\n').filter((t) => t !== '')
          let ok = 0
          let failed = 0
          for (let i = 0; i < tokens.length; i += 64) {
            const batch = await Promise.allSettled(tokens.slice(i, i + 64).map(async (t) => kg.authenticator.authenticate(t)))
            for (const r of batch) r.status === 'fulfilled' ? ok++ : failed++
          }
          process.send?.({ type: 'authenticated', id: m.id, ok, failed, cacheSize: kg.authenticator.size })
          break
        }
        case 'snapshot': {
          const { writeHeapSnapshot } = await import('node:v8')
          process.send?.({ type: 'snapshot', id: m.id, file: writeHeapSnapshot(m.file) })
          break
        }
        case 'stats':
          process.send?.({ type: 'stats', id: m.id, size: kg.authenticator.size, streams: kg.sessions.count('stream'), ...kg.authenticator.stats })
          break
      }
    })()
  })
  // Bounded: the orchestrator SIGKILLs after 5 s, and a killed process writes no --cpu-prof profile.
  const stop = (): void => {
    setTimeout(() => process.exit(0), 3000).unref()
    void kg.close().then(() => process.exit(0))
  }
  process.on('SIGTERM', stop)
  process.on('disconnect', stop)
}

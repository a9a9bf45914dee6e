/**
 * Load case for the upgrade path: many concurrent `exec ... cat` sessions over WebSocket v5, each streaming
 * data through stdin and reading it back on stdout, once straight to the apiserver double and once through
 * kubegate. Reports session setup latency (connect → 101, all sessions' handshakes in flight together) and
 * throughput (MB/s of stdout received, all sessions together, from the moment all are open) for both, and
 * kubegate's ratio to direct.
 *
 *   npx tsx bench/exec-load.ts [--quick] [--sessions N] [--mib-per-session M]
 *
 * Loopback only; every run is bounded in session count, bytes and time. The double, kubegate and the load
 * generator share one process (and these machines' two cores), so absolute numbers are modest; the ratio is
 * the figure to watch. `runExecLoad(opts)` returns the numbers for the bench suite.
 */
import { pathToFileURL } from 'node:url'
import { performance } from 'node:perf_hooks'
import { WebSocket } from 'ws'
import { startStack, type Stack } from '../test/helpers/stack.js'

export interface ExecLoadOptions {
  /** Concurrent sessions per mode (default 32; quick 8). */
  sessions?: number
  /** Bytes each session streams through `cat` (default 4 MiB; quick 1 MiB). */
  bytesPerSession?: number
  /** WebSocket message size for stdin (default 32 KiB). */
  chunkBytes?: number
  /** Hard limit per mode; unfinished sessions are terminated and counted as failed (default 60 s; quick 20 s). */
  timeLimitMs?: number
  /** Small, fast defaults (CI smoke). */
  quick?: boolean
  /** Reuse a running stack instead of starting one (its kubegate must allow `sessions` upgrades per user). */
  stack?: Stack
}

export interface ModeResult {
  mode: 'direct' | 'kubegate'
  sessions: number
  completed: number
  failed: number
  /** stdout bytes received, all sessions. */
  bytes: number
  wallMs: number
  /** Throughput in MB/s (10^6 bytes) of echoed data. */
  mbPerSec: number
  setupMs: { p50: number, p95: number, max: number }
}

export interface ExecLoadResult {
  direct: ModeResult
  kubegate: ModeResult
  /** kubegate throughput / direct throughput. */
  throughputRatio: number
  /** kubegate p50 setup − direct p50 setup, ms. */
  setupOverheadMs: number
  options: { sessions: number, bytesPerSession: number, chunkBytes: number, timeLimitMs: number }
}

const USER = 'user01@example.com'
const NS = 'user01'
const POD = 'bench'
const PATH = `/api/v1/namespaces/${NS}/pods/${POD}/exec?command=cat&stdin=true&stdout=true&stderr=true`

function quantile (sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

const round = (n: number, d = 2): number => Math.round(n * 10 ** d) / 10 ** d

interface SessionOutcome { ok: boolean, setupMs: number, bytes: number }

/** One exec session: open, stream `total` bytes of stdin with backpressure, send EOF, read stdout to the end. */
function runSession (url: string, headers: Record<string, string>, ca: string, total: number, chunk: number, deadline: number,
  opened: () => void, go: Promise<void>): Promise<SessionOutcome> {
  return new Promise((resolve) => {
    const t0 = performance.now()
    let setupMs = NaN
    let received = 0
    let settled = false
    const ws = new WebSocket(url, ['v5.channel.k8s.io'], { headers, ca, perMessageDeflate: false, handshakeTimeout: 10_000 })
    const done = (ok: boolean): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (Number.isNaN(setupMs)) opened() // failed before opening: do not hold the others at the barrier
      resolve({ ok: ok && received === total, setupMs, bytes: received })
    }
    const timer = setTimeout(() => { ws.terminate(); done(false) }, Math.max(1, deadline - Date.now()))
    const payload = Buffer.alloc(chunk + 1, 0x61)
    payload[0] = 0 // stdin channel
    ws.on('open', () => {
      setupMs = performance.now() - t0
      opened()
      void go.then(stream)
    })
    const stream = (): void => {
      let sent = 0
      // Keep at most ~1 MiB queued in the socket: the sender feels backpressure like kubectl does.
      const pump = (): void => {
        while (sent < total && ws.bufferedAmount < 1024 * 1024) {
          const n = Math.min(chunk, total - sent)
          ws.send(n === chunk ? payload : payload.subarray(0, n + 1))
          sent += n
        }
        if (sent < total) setTimeout(pump, 1)
        else ws.send(Buffer.from([255, 0])) // v5: stdin closed
      }
      pump()
    }
    ws.on('message', (d: Buffer) => { if (d[0] === 1) received += d.length - 1 })
    ws.on('close', (code) => done(code === 1000))
    ws.on('error', () => done(false))
  })
}

async function runMode (mode: ModeResult['mode'], url: string, headers: Record<string, string>, ca: string,
  sessions: number, total: number, chunk: number, timeLimitMs: number): Promise<ModeResult> {
  const deadline = Date.now() + timeLimitMs
  // Setup is measured with all handshakes in flight together; streaming starts once every session is open
  // (or failed), so the two figures do not pollute each other.
  let open = 0
  let start = 0
  let release: () => void = () => {}
  const go = new Promise<void>((resolve) => { release = () => { start = performance.now(); resolve() } })
  const opened = (): void => { if (++open === sessions) release() }
  const runs = Array.from({ length: sessions }, () => runSession(url, headers, ca, total, chunk, deadline, opened, go))
  const outcomes = await Promise.all(runs)
  if (start === 0) start = performance.now()
  const wallMs = performance.now() - start
  const bytes = outcomes.reduce((a, o) => a + o.bytes, 0)
  const setups = outcomes.map((o) => o.setupMs).filter((n) => !Number.isNaN(n)).sort((a, b) => a - b)
  return {
    mode,
    sessions,
    completed: outcomes.filter((o) => o.ok).length,
    failed: outcomes.filter((o) => !o.ok).length,
    bytes,
    wallMs: round(wallMs, 1),
    mbPerSec: round(bytes / 1e6 / (wallMs / 1000)),
    setupMs: { p50: round(quantile(setups, 0.5)), p95: round(quantile(setups, 0.95)), max: round(setups.at(-1) ?? NaN) },
  }
}

/** Runs both modes (direct first, then through kubegate) and returns the figures. */
export async function runExecLoad (opts: ExecLoadOptions = {}): Promise<ExecLoadResult> {
  const quick = opts.quick === true
  const sessions = Math.min(opts.sessions ?? (quick ? 8 : 32), 256)
  const bytesPerSession = Math.min(opts.bytesPerSession ?? (quick ? 1 : 4) * 1024 * 1024, 64 * 1024 * 1024)
  const chunkBytes = opts.chunkBytes ?? 32 * 1024
  const timeLimitMs = Math.min(opts.timeLimitMs ?? (quick ? 20_000 : 60_000), 300_000)
  const own = opts.stack === undefined
  const stack = opts.stack ?? await startStack({
    config: { log: { level: 'warn' }, server: { maxUpgradesPerUser: sessions + 8 } },
    apiserver: { pods: [{ namespace: NS, name: POD }] },
  })
  try {
    if (stack.apiserver.getObject('pods', NS, POD) === undefined) stack.apiserver.addPod(NS, POD)
    const token = await stack.issuer.token({ email: USER, groups: ['students'] })
    // Direct: what kubegate itself sends (service-account token + impersonation), without kubegate.
    const directHeaders = { Authorization: `Bearer ${stack.apiserver.token}`, 'Impersonate-User': USER, 'Impersonate-Group': 'students' }
    const kgHeaders = { Authorization: `Bearer ${token}` }
    const directUrl = `${stack.apiserver.url.replace('https:', 'wss:')}${PATH}`
    const kgUrl = `${stack.kg.url.replace('https:', 'wss:')}${PATH}`
    // Warm-up (JIT, TLS session setup, the token cache): a few small sessions each way, not measured.
    await runMode('direct', directUrl, directHeaders, stack.apiserver.caPem, 4, 256 * 1024, chunkBytes, timeLimitMs)
    await runMode('kubegate', kgUrl, kgHeaders, stack.caPem, 4, 256 * 1024, chunkBytes, timeLimitMs)
    const direct = await runMode('direct', directUrl, directHeaders, stack.apiserver.caPem, sessions, bytesPerSession, chunkBytes, timeLimitMs)
    const kubegate = await runMode('kubegate', kgUrl, kgHeaders, stack.caPem, sessions, bytesPerSession, chunkBytes, timeLimitMs)
    return {
      direct,
      kubegate,
      throughputRatio: round(kubegate.mbPerSec / direct.mbPerSec, 3),
      setupOverheadMs: round(kubegate.setupMs.p50 - direct.setupMs.p50),
      options: { sessions, bytesPerSession, chunkBytes, timeLimitMs },
    }
  } finally {
    if (own) await stack.close()
  }
}

function argValue (name: string): number | undefined {
  const i = process.argv.indexOf(name)
  if (i === -1) return undefined
  const n = Number(process.argv[i + 1])
  return Number.isFinite(n) && n > 0 ? n : undefined
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const mib = argValue('--mib-per-session')
  const r = await runExecLoad({
    quick: process.argv.includes('--quick'),
    sessions: argValue('--sessions'),
    bytesPerSession: mib === undefined ? undefined : Math.round(mib * 1024 * 1024),
  })
  const o = r.options
  console.log(`exec load: ${o.sessions} concurrent WebSocket v5 exec sessions × ${round(o.bytesPerSession / 1048576)} MiB through cat, ${o.chunkBytes / 1024} KiB messages`)
  console.log('mode       sessions ok/failed   MB/s    wall ms   setup p50 / p95 / max ms')
  for (const m of [r.direct, r.kubegate]) {
    console.log(`${m.mode.padEnd(10)} ${String(m.sessions).padStart(8)} ${`${m.completed}/${m.failed}`.padStart(9)} ${String(m.mbPerSec).padStart(7)} ${String(m.wallMs).padStart(10)}   ${m.setupMs.p50} / ${m.setupMs.p95} / ${m.setupMs.max}`)
  }
  console.log(`kubegate/direct throughput: ${r.throughputRatio}×; setup overhead (p50): ${r.setupOverheadMs} ms`)
  console.log(JSON.stringify(r))
  if (r.direct.failed > 0 || r.kubegate.failed > 0) process.exitCode = 1
}

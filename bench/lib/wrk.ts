/** Runs wrk (Debian's /usr/bin/wrk) with bench.lua and returns its figures. */
import { execFile } from 'node:child_process'
import { BENCH_DIR } from './procs.js'

export interface WrkResult {
  requests: number
  durationUs: number
  rps: number
  /** Latency percentiles in microseconds. */
  p50: number
  p90: number
  p99: number
  max: number
  non2xx: number
  errors: number
}

export interface WrkOptions {
  url: string
  path: string
  tokenFile: string
  mode?: 'cycle' | 'once'
  connections: number
  durationSec: number
  /** CPUs for taskset (the load generator's core). */
  cpus?: string | undefined
  threads?: number
}

export function runWrk (o: WrkOptions): Promise<WrkResult> {
  const args = ['-t', String(o.threads ?? 1), '-c', String(o.connections), '-d', `${o.durationSec}s`, '--timeout', '10s',
    '-s', BENCH_DIR + 'lib/bench.lua', o.url, '--', o.path, o.tokenFile, o.mode ?? 'cycle']
  const [cmd, argv] = o.cpus === undefined ? ['wrk', args] : ['taskset', ['-c', o.cpus, 'wrk', ...args]]
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { timeout: (o.durationSec + 30) * 1000, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) {
        reject(new Error(`wrk failed: ${err.message}\n${stderr}`))
        return
      }
      const line = stdout.split('\n').find((l) => l.startsWith('BENCH_JSON '))
      if (line === undefined) {
        reject(new Error(`wrk printed no result:\n${stdout}\n${stderr}`))
        return
      }
      const j = JSON.parse(line.slice('BENCH_JSON '.length)) as Record<string, number>
      const requests = j.requests as number
      const durationUs = j.durationUs as number
      resolve({
        requests,
        durationUs,
        rps: durationUs > 0 ? requests / (durationUs / 1e6) : 0,
        p50: j.p50 as number,
        p90: j.p90 as number,
        p99: j.p99 as number,
        max: j.max as number,
        non2xx: j.non2xx as number,
        errors: (j.connectErrors as number) + (j.readErrors as number) + (j.writeErrors as number) + (j.timeouts as number),
      })
    })
  })
}

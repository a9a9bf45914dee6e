/**
 * Runs kubegate as the real CLI in a child process (`node --import tsx src/cli.ts --config <file>`), for
 * tests of signals and exit codes. Its JSON log lines are collected (and added to `allLogLines` for the
 * token-leak test); `listening` resolves with the proxy and metrics URLs from the start-up line.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { stringify } from 'yaml'
import { createTempDir } from './pki.js'
import { allLogLines } from './stack.js'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ChildKubegate {
  readonly child: ChildProcess
  readonly configFile: string
  readonly lines: Array<Record<string, unknown>>
  readonly url: string
  readonly metricsUrl: string
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>
  /** Waits for a log line matching the predicate (bounded). */
  waitFor: (pred: (l: Record<string, unknown>) => boolean, ms?: number) => Promise<Record<string, unknown>>
  kill: () => void
}

export async function startChildKubegate (tree: Record<string, unknown>): Promise<ChildKubegate> {
  const dir = createTempDir('kubegate-child-')
  const configFile = join(dir, 'kubegate.yaml')
  // One process unless the test asks for workers (the default, 0, would start one per CPU).
  const server = (tree.server ?? {}) as Record<string, unknown>
  writeFileSync(configFile, stringify({ ...tree, server: { workers: 1, ...server } }))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', '--config', configFile], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  let buf = ''
  child.stdout?.on('data', (c: Buffer) => {
    buf += c.toString('utf8')
    let nl
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl)
      buf = buf.slice(nl + 1)
      if (line === '') continue
      allLogLines.push(line)
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>)
      } catch {
        lines.push({ unparsed: line })
      }
      for (const w of waiters) w()
    }
  })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8')
    allLogLines.push(c.toString('utf8'))
  })
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const waitFor = (pred: (l: Record<string, unknown>) => boolean, ms = 20_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = lines.find(pred)
        if (hit !== undefined) {
          waiters.delete(check)
          clearTimeout(t)
          resolve(hit)
        }
      }
      const t = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`timed out waiting for a log line; stderr: ${stderr.slice(-2000)}`))
      }, ms)
      waiters.add(check)
      void exited.then(() => setTimeout(() => {
        if (waiters.has(check)) {
          waiters.delete(check)
          clearTimeout(t)
          reject(new Error(`kubegate exited; stderr: ${stderr.slice(-2000)}`))
        }
      }, 50))
      check()
    })
  const start = await waitFor((l) => l.msg === 'kubegate listening')
  // With server.workers > 1 the primary serves the metrics listener (a worker's start-up line has metrics '').
  const metricsUrl = start.metrics !== '' ? start.metrics : (await waitFor((l) => l.msg === 'primary serving metrics for its workers')).metrics
  return {
    child,
    configFile,
    lines,
    url: start.url as string,
    metricsUrl: metricsUrl as string,
    exited,
    waitFor,
    kill: () => { if (child.exitCode === null) child.kill('SIGKILL') },
  }
}

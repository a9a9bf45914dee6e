/** Child processes of the bench: spawn with IPC, pin to CPUs, ask and await replies, read RSS. */
import { fork, execFileSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url))

export interface Child {
  readonly proc: ChildProcess
  readonly pid: number
  /** Sends `{type, ...}` with a fresh id and resolves with the first reply carrying that id. */
  ask: <T = Record<string, unknown>>(msg: Record<string, unknown>, timeoutMs?: number) => Promise<T>
  /** Resolves with the first message of that type. */
  next: <T = Record<string, unknown>>(type: string, timeoutMs?: number) => Promise<T>
  stop: () => Promise<void>
}

let ids = 0
const childEnv: Record<string, string> = {}

/** Environment added to every child spawned from now on (the compiled kubegate's directory). */
export function setChildEnv (name: string, value: string): void {
  childEnv[name] = value
}

/** Starts `bench/<script>` under tsx with an IPC channel; stdout goes to /dev/null (kubegate's access log). */
export function spawnChild (script: string, args: string[], opts: { execArgv?: string[], stdout?: 'ignore' | 'inherit' } = {}): Child {
  const proc = fork(BENCH_DIR + script, args, {
    execArgv: ['--import', 'tsx', ...(opts.execArgv ?? [])],
    stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, ...childEnv },
  })
  const child: Child = {
    proc,
    get pid () { return proc.pid as number },
    ask (msg, timeoutMs = 120_000) {
      const id = ++ids
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { proc.off('message', on); reject(new Error(`${script}: no reply to ${String(msg.type)}`)) }, timeoutMs)
        const on = (m: { id?: number }): void => {
          if (m.id !== id) return
          clearTimeout(t)
          proc.off('message', on)
          resolve(m as never)
        }
        proc.on('message', on)
        proc.send({ ...msg, id })
      })
    },
    next (type, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => { proc.off('message', on); proc.off('exit', onExit); reject(new Error(`${script}: no ${type} message`)) }, timeoutMs)
        const on = (m: { type?: string }): void => {
          if (m.type !== type) return
          clearTimeout(t)
          proc.off('message', on)
          proc.off('exit', onExit)
          resolve(m as never)
        }
        const onExit = (code: number | null): void => {
          clearTimeout(t)
          proc.off('message', on)
          reject(new Error(`${script} exited (${code}) before ${type}`))
        }
        proc.on('message', on)
        proc.once('exit', onExit)
      })
    },
    async stop () {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()))
      proc.kill('SIGTERM')
      const t = setTimeout(() => proc.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    },
  }
  return child
}

/** Pins every thread of `pid` (libuv's pool included) to `cpus` ("0", "1", "0,1"); a no-op without taskset. */
export function pin (pid: number, cpus: string): void {
  try {
    execFileSync('taskset', ['-a', '-pc', cpus, String(pid)], { stdio: 'ignore' })
  } catch { /* taskset missing or pid gone: the run is then unpinned, which the report states */ }
}

export function hasTaskset (): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/** Resident set size in KiB from /proc (the whole process: heap, buffers, TLS state). */
export function rssKiB (pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m === null ? NaN : Number(m[1])
}

/** CPU time (user+system, ms) consumed so far by `pid`, from /proc/<pid>/stat. */
export function cpuMs (pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(rest[11]) + Number(rest[12])
  return ticks * 10 // USER_HZ is 100 on Linux
}

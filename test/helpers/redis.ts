/**
 * A real redis-server for tests: its own free loopback port, no persistence, killed with the test. A test can
 * stop it (SIGKILL: an outage, not a clean shutdown) and start it again on the same port.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createConnection } from 'node:net'
import { freePort } from './free-port.js'

export const REDIS_SERVER = '/usr/bin/redis-server'

export function hasRedis (): boolean {
  return existsSync(REDIS_SERVER)
}

export interface TestRedis {
  readonly port: number
  /** `redis://127.0.0.1:<port>` */
  readonly url: string
  readonly running: boolean
  /** SIGSTOP: the server keeps its sockets open but answers nothing (a stalled Redis). */
  pause: () => void
  /** SIGCONT after pause(). */
  resume: () => void
  /** SIGKILL the server and wait for it to exit. */
  kill: () => Promise<void>
  /** Start it again on the same port (empty: nothing was persisted). */
  restart: () => Promise<void>
  close: () => Promise<void>
}

async function waitForPort (port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (let i = 0; i < 200 && Date.now() < deadline; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port })
      c.once('connect', () => {
        // PING so "listening" also means "answering".
        c.write('PING\r\n')
        c.once('data', (d: Buffer) => {
          c.destroy()
          resolve(d.toString().startsWith('+PONG'))
        })
      })
      c.once('error', () => resolve(false))
      c.setTimeout(500, () => {
        c.destroy()
        resolve(false)
      })
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`redis-server did not answer on port ${port} within ${timeoutMs} ms`)
}

/** Starts redis-server on a free loopback port. Always `close()` it. */
export async function startRedis (): Promise<TestRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()
  let stderr = ''

  const launch = async (): Promise<void> => {
    const c = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--protected-mode', 'yes', '--loglevel', 'warning'], { stdio: ['ignore', 'ignore', 'pipe'] })
    child = c
    c.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-4000) })
    exited = new Promise((resolve) => c.once('exit', () => resolve()))
    // Never outlive the test process.
    c.unref()
    try {
      await waitForPort(port, 5000)
    } catch (err) {
      c.kill('SIGKILL')
      throw new Error(`${(err as Error).message}; stderr: ${stderr}`)
    }
  }
  const kill = async (): Promise<void> => {
    const c = child
    child = undefined
    if (c === undefined || c.exitCode !== null) return
    // Held by the event loop again until it has exited (it is unref'd so a forgotten server never blocks exit).
    c.ref()
    c.kill('SIGCONT')
    c.kill('SIGKILL')
    await exited
  }
  process.once('exit', () => child?.kill('SIGKILL'))
  await launch()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running () { return child !== undefined && child.exitCode === null },
    kill,
    pause: () => { child?.kill('SIGSTOP') },
    resume: () => { child?.kill('SIGCONT') },
    async restart () {
      await kill()
      await launch()
    },
    close: kill,
  }
}

/**
 * Raw bytes over one TLS (or TCP) connection: for requests no HTTP client library will send (smuggling,
 * absolute-form targets, duplicate headers, pipelining, slow headers, odd versions).
 */
import { connect as netConnect, type Socket } from 'node:net'
import { connect as tlsConnect } from 'node:tls'

export interface RawResult {
  /** Everything the server sent, Latin-1 decoded. */
  text: string
  /** The server closed the connection (as opposed to us giving up after `idleMs`). */
  closedByServer: boolean
  /** Status codes of every response found in `text`, in order. */
  statuses: number[]
  elapsedMs: number
}

export interface RawOptions {
  ca?: string
  /** Give up when nothing arrived for this long (default 1500 ms). */
  idleMs?: number
  /** Hard limit (default 10 s). */
  timeoutMs?: number
  /** Write `data` in pieces with this delay between them (slow clients). */
  chunks?: Array<string | Buffer>
  chunkDelayMs?: number
}

export function rawExchange (url: string, data: string | Buffer, opts: RawOptions = {}): Promise<RawResult> {
  const u = new URL(url)
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = Number(u.port)
  const started = Date.now()
  return new Promise((resolve, reject) => {
    const socket: Socket = u.protocol === 'https:'
      ? tlsConnect({ host, port, ca: opts.ca, servername: /^[\d.:]+$/.test(host) ? undefined : host })
      : netConnect({ host, port })
    const received: Buffer[] = []
    let idle: NodeJS.Timeout | undefined
    let done = false
    const finish = (closedByServer: boolean): void => {
      if (done) return
      done = true
      clearTimeout(idle)
      clearTimeout(hard)
      socket.destroy()
      const text = Buffer.concat(received).toString('latin1')
      const statuses = [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]))
      resolve({ text, closedByServer, statuses, elapsedMs: Date.now() - started })
    }
    const armIdle = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => finish(false), opts.idleMs ?? 1500)
    }
    const hard = setTimeout(() => finish(false), opts.timeoutMs ?? 10_000)
    socket.on('data', (c: Buffer) => {
      received.push(c)
      armIdle()
    })
    socket.on('end', () => finish(true))
    socket.on('close', () => finish(true))
    socket.on('error', (err) => {
      if (received.length > 0) finish(true)
      else if (!done) {
        done = true
        clearTimeout(hard)
        clearTimeout(idle)
        reject(err)
      }
    })
    socket.once(u.protocol === 'https:' ? 'secureConnect' : 'connect', () => {
      armIdle()
      if (opts.chunks === undefined) {
        socket.write(data)
        return
      }
      let i = 0
      const next = (): void => {
        if (done || i >= (opts.chunks as Array<string | Buffer>).length) return
        socket.write((opts.chunks as Array<string | Buffer>)[i++] as string | Buffer)
        setTimeout(next, opts.chunkDelayMs ?? 500)
      }
      next()
    })
  })
}

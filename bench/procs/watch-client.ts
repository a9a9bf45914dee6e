/**
 * Holds N watch requests open against one URL and measures event latency: each event carries the
 * upstream's send time on the monotonic clock (shared by every process on the machine).
 * IPC: `open {url, path, token, n, ca}` -> `opened {ok, failed}`; `report` -> latencies; `close`.
 */
import { Agent, request } from 'node:https'
import type { IncomingMessage } from 'node:http'

let responses: IncomingMessage[] = []
let latUs: number[] = []
let agent: Agent | undefined

function openOne (url: URL, path: string, token: string, ca: string): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET', agent, ca, headers: { Authorization: `Bearer ${token}` }, timeout: 10_000 }, (res) => {
      if (res.statusCode !== 200) {
        res.resume()
        reject(new Error(`watch answered ${res.statusCode}`))
        return
      }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => {
        buf += d
        let nl: number
        while ((nl = buf.indexOf('\n')) !== -1) {
          const line = buf.slice(0, nl)
          buf = buf.slice(nl + 1)
          const m = /"t":"(\d+)"/.exec(line)
          if (m !== null) latUs.push(Number(process.hrtime.bigint() - BigInt(m[1] as string)) / 1000)
        }
      })
      res.on('error', () => {})
      resolve(res)
    })
    req.on('error', reject)
    req.on('timeout', () => req.destroy(new Error('watch open timed out')))
    req.end()
  })
}

process.on('message', (m: { type: string, id?: number, url?: string, path?: string, token?: string, n?: number, ca?: string }) => {
  void (async () => {
    switch (m.type) {
      case 'open': {
        agent = new Agent({ keepAlive: false, maxSockets: Infinity })
        const url = new URL(m.url as string)
        let ok = 0
        let failed = 0
        let firstError: string | undefined
        const n = m.n as number
        for (let i = 0; i < n; i += 250) {
          const batch = await Promise.allSettled(Array.from({ length: Math.min(250, n - i) }, () => openOne(url, m.path as string, m.token as string, m.ca as string)))
          for (const r of batch) {
            if (r.status === 'fulfilled') { ok++; responses.push(r.value) } else { failed++; firstError ??= String(r.reason) }
          }
        }
        process.send?.({ type: 'opened', id: m.id, ok, failed, firstError })
        break
      }
      case 'report':
        process.send?.({ type: 'report', id: m.id, latUs })
        latUs = []
        break
      case 'close':
        for (const r of responses) r.destroy()
        responses = []
        agent?.destroy()
        process.send?.({ type: 'closed', id: m.id })
        break
    }
  })()
})
process.on('disconnect', () => process.exit(0))

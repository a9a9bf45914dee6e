/**
 * Memory per open watch, measured as scenario 5 measures it (gc, RSS and heap before and after opening N
 * watches), for kubegate and for floors that isolate where the memory goes:
 *   kubegate   - kubegate's own process (loadConfig + start), as in scenario 5;
 *   floor-tls  - a bare HTTPS server holding N chunked responses open (the client side alone);
 *   floor-proxy- the same server forwarding each watch on undici's Pool (client side + upstream side);
 *   floor-proxy-ctx - that with one upstream TLS context shared by all connections (what kubegate does);
 *   floor-proxy-h2  - that with HTTP/2 towards an upstream offering it (100 streams per connection).
 * Each line also splits RSS into V8's committed heap and the rest (OpenSSL, sockets, malloc), which is where
 * the run-to-run noise shows. `WM_SNAPSHOT=/tmp/x` writes kubegate heap snapshots before and after opening.
 * `npx tsx bench/watch-mem.ts [--watches=N] [--only=kubegate,floor-tls,floor-proxy,floor-proxy-ctx,floor-proxy-h2]`.
 * Not part of `npm run bench`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { freePort } from '../test/helpers/free-port.js'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startTestIssuer } from '../test/helpers/issuer.js'
import { getTestPki } from '../test/helpers/pki.js'
import { kubegateTree } from './lib/kubegate-config.js'
import { spawnChild, type Child } from './lib/procs.js'
import { makeTokens } from './lib/tokens.js'

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => argv.find((x) => x.startsWith(`--${name}=`))?.split('=')[1]
const N = Number(flag('watches') ?? 1000)
const ONLY = (flag('only') ?? 'kubegate,floor-tls,floor-proxy,floor-proxy-ctx,floor-proxy-h2').split(',')

interface Mem { rss: number, heapUsed: number, heapTotal: number, external: number, arrayBuffers: number }


const kib = (a: number, b: number, n: number): number => Math.round((b - a) / 1024 / n * 100) / 100

async function main (): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'kubegate-watchmem-'))
  const children: Child[] = []
  try {
    const pki = await getTestPki()
    const [upCert, kgCert] = await Promise.all([pki.issue(`wm-upstream-${process.pid}`), pki.issue(`wm-kubegate-${process.pid}`)])
    const issuer = await startTestIssuer({ pki })
    const upstream = spawnChild('procs/upstream.ts', [upCert.certFile, upCert.keyFile])
    children.push(upstream)
    const up = await upstream.next<{ port: number }>('ready')
    const upstreamUrl = `https://127.0.0.1:${up.port}`
    const saFile = join(tmp, 'sa-token')
    writeFileSync(saFile, 'bench-service-account-token\n', { mode: 0o600 })
    const [token] = await makeTokens(issuer.privateKey(), { issuer: issuer.url, kid: issuer.currentKid, users: 1, count: 1, tag: 'wm' })
    // An upstream that offers HTTP/2 (100 streams per connection), started only for floor-proxy-h2.
    const up2 = ONLY.includes('floor-proxy-h2') ? spawnChild('procs/upstream.ts', [upCert.certFile, upCert.keyFile, 'h2']) : undefined
    if (up2 !== undefined) children.push(up2)
    const up2Url = up2 === undefined ? '' : `https://127.0.0.1:${(await up2.next<{ port: number }>('ready')).port}`
    const client = spawnChild('procs/watch-client.ts', [])
    children.push(client)

    for (const target of ONLY) {
      const port = await freePort()
      let proc: Child
      let url: string
      if (target === 'kubegate') {
        const specFile = join(tmp, 'kg.json')
        writeFileSync(specFile, JSON.stringify({
          tree: kubegateTree({ port, cert: kgCert, issuerUrl: issuer.url, caFile: pki.caFile, upstreamUrl, saFile }),
          workers: 1,
        }))
        proc = spawnChild('procs/kubegate.ts', [specFile], { execArgv: ['--expose-gc'] })
        url = (await proc.next<{ url: string }>('ready', 60_000)).url
      } else {
        proc = spawnChild('procs/watch-floor.ts', [target, String(port), kgCert.certFile, kgCert.keyFile, target === 'floor-proxy-h2' ? up2Url : upstreamUrl, pki.caFile], { execArgv: ['--expose-gc'] })
        url = (await proc.next<{ url: string }>('ready', 60_000)).url
      }
      children.push(proc)
      if (process.env.WM_SNAPSHOT !== undefined) await proc.ask({ type: 'snapshot', file: `${process.env.WM_SNAPSHOT}-${target}-0.heapsnapshot` }, 120_000)
      const m0 = await proc.ask<Mem>({ type: 'mem' })
      const opened = await client.ask<{ ok: number, failed: number, firstError?: string }>({ type: 'open', url, path: '/api/v1/namespaces/user01/pods?watch=1', token, n: N, ca: pki.caPem }, 120_000)
      const m1 = await proc.ask<Mem>({ type: 'mem' })
      const ok = opened.ok
      if (process.env.WM_SNAPSHOT !== undefined) await proc.ask({ type: 'snapshot', file: `${process.env.WM_SNAPSHOT}-${target}.heapsnapshot` }, 120_000)
      const up = target === 'floor-proxy-h2' ? up2 as Child : upstream
      const st = await up.ask<{ connections: number, watchers: number }>({ type: 'stats' })
      console.log(`${target}: ${ok}/${N} open${opened.firstError !== undefined ? ` (${opened.firstError})` : ''}; KiB per watch: rss ${kib(m0.rss, m1.rss, ok)}, heap ${kib(m0.heapUsed, m1.heapUsed, ok)}, V8 heap committed ${kib(m0.heapTotal, m1.heapTotal, ok)}, rss outside V8 heap ${kib(m0.rss - m0.heapTotal, m1.rss - m1.heapTotal, ok)}, external ${kib(m0.external, m1.external, ok)}, arrayBuffers ${kib(m0.arrayBuffers, m1.arrayBuffers, ok)}; upstream TLS connections so far ${st.connections}`)
      await client.ask({ type: 'close' })
      await up.ask({ type: 'close-watches' })
      await proc.stop()
    }
  } finally {
    await Promise.allSettled(children.map(async (c) => c.stop()))
    rmSync(tmp, { recursive: true, force: true })
  }
}

await main()
process.exit(0)

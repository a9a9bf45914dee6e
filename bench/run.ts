/**
 * kubegate benchmark: `npm run bench` (full) or `npm run bench -- --quick` (every scenario briefly).
 * Loopback only, bounded in time, stops by itself; prints a table and writes JSON
 * (full: bench/results/latest.json; quick: bench/results/quick.json).
 *
 * Every throughput scenario runs kubegate interleaved with two references in the same run:
 *   direct - wrk straight to the upstream (no proxy);
 *   bare   - kubegate's own process and forwarding code with authentication off (hidden start option).
 * Scenario 1 adds a third, the target of issue 15: HAProxy 2.6 verifying the RS256 signature of every request
 * with jwt_verify (bench/haproxy.cfg.in, bench/lib/haproxy.ts), pinned to the proxy's core like kubegate.
 * Layout on 2 cores (taskset): the proxy under test on CPU 0; the upstream and wrk on CPU 1. For direct
 * runs the upstream moves to CPU 0, so direct is not starved by sharing a core with wrk.
 *
 * Options: --quick, --only=1,2,3,4,5,6,7,w,a,micro, --rounds=N, --duration=S, --cpu-prof (kubegate
 * scenario 1 profile into bench/results/profiles/), --out=FILE.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { freePort } from '../test/helpers/free-port.js'
import { tmpdir, cpus, totalmem, release } from 'node:os'
import { join } from 'node:path'
import { startTestIssuer } from '../test/helpers/issuer.js'
import { getTestPki } from '../test/helpers/pki.js'
import { ensureHaproxy, startHaproxy, statusFor } from './lib/haproxy.js'
import { buildKubegate, DIST_ENV } from './lib/dist.js'
import { kubegateTree } from './lib/kubegate-config.js'
import { BENCH_DIR, hasTaskset, pin, setChildEnv, spawnChild, type Child } from './lib/procs.js'
import { makeForgedTokens, makeTokens, writeTokenFile } from './lib/tokens.js'
import { runWrk, type WrkResult } from './lib/wrk.js'
import { runMicro, type MicroResult } from './micro/run.js'

const argv = process.argv.slice(2)
const flag = (name: string): string | undefined => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`))
  if (a === undefined) return undefined
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : ''
}
const QUICK = flag('quick') !== undefined
const ONLY = new Set((flag('only') ?? '1,2,3,4,5,6,7,w,a,micro').split(','))
const ROUNDS = Number(flag('rounds') ?? (QUICK ? 1 : 3))
const DURATION = Number(flag('duration') ?? (QUICK ? 1 : 6))
const CPU_PROF = flag('cpu-prof') !== undefined
const OUT = flag('out') ?? BENCH_DIR + (QUICK ? 'results/quick.json' : 'results/latest.json')
const CONNECTIONS = 32
const WATCHES = Number(flag('watches') ?? (QUICK ? 150 : 1000))
const CACHE_FILL = QUICK ? 500 : 10_000
// Enough never-seen tokens for a whole round: wrk's `once` mode stops sending when the file is used up but
// still divides by the full duration, so a file that runs out caps the measured req/s (8,000 tokens per 6 s
// round capped scenario 3 at 1,333 req/s until 2026-11-28: every earlier cold figure was that cap). A round
// that uses up its file is reported as a lower bound.
const COLD_PER_ROUND = QUICK ? 500 : DURATION * 6000
/** Forged tokens per flood round, distinct across rounds (a repeat would be a negative-cache hit, not a check). */
const FORGED_PER_ROUND = QUICK ? 2000 : DURATION * 12_000
const PINNED = hasTaskset()
const CPU_PROXY = '0'
const CPU_LOAD = '1'
/** Hard stop for the whole run: the bench must end by itself whatever happens. */
const DEADLINE_MS = QUICK ? 120_000 : 30 * 60_000

const deadline = setTimeout(() => {
  process.stderr.write('bench: deadline reached, aborting\n')
  process.exit(3)
}, DEADLINE_MS)
deadline.unref()

function log (s: string): void {
  process.stderr.write(s + '\n')
}


const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 === 1 ? s[(s.length - 1) / 2] as number : ((s[s.length / 2 - 1] as number) + (s[s.length / 2] as number)) / 2
}
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))] as number
}
const r2 = (x: number): number => Math.round(x * 100) / 100

interface Summary { rps: number, p50Us: number, p99Us: number, non2xx: number, errors: number, requests: number, rounds: WrkResult[] }

function summarize (rs: WrkResult[]): Summary {
  return {
    rps: Math.round(median(rs.map((r) => r.rps))),
    p50Us: median(rs.map((r) => r.p50)),
    p99Us: median(rs.map((r) => r.p99)),
    non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    requests: rs.reduce((a, r) => a + r.requests, 0),
    rounds: rs,
  }
}

interface Target {
  name: string
  url: string
  /** Where the upstream runs while this target is measured. */
  upstreamCpu: string
  pids: () => number[]
  proxyCpus: string
}

interface Row { scenario: string, metric: string, value: number | string, target: string, met: boolean | undefined, note?: string }

/**
 * Scenario A's AuthenticationConfiguration: the bench issuer mapped with CEL (username, groups, a claim rule
 * and a user rule) to the same identity the flags give, plus two more issuers its tokens are routed past. The
 * same identity, so the same header lines upstream: a uid or extras would add lines (their cost is the wire's,
 * whatever maps them).
 */
function threeIssuerConfig (issuerUrl: string, others: string[], caPem: string): string {
  const ca = (indent: string): string => '|\n' + caPem.trim().split('\n').map((l) => indent + l).join('\n')
  const other = (url: string): string => `  - issuer:
      url: "${url}"
      audiences: [kubegate]
      certificateAuthority: ${ca('        ')}
    claimMappings:
      username: { claim: sub, prefix: "other:" }
`
  return `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
${others.map(other).join('')}  - issuer:
      url: "${issuerUrl}"
      audiences: [kubegate]
      certificateAuthority: ${ca('        ')}
    claimValidationRules:
      - expression: "claims.email_verified == true"
    claimMappings:
      username: { expression: "claims.email.lowerAscii()" }
      groups: { expression: "claims.groups.filter(g, g != '')" }
    userValidationRules:
      - expression: "!user.username.startsWith('system:')"
`
}

async function main (): Promise<void> {
  const t0 = Date.now()
  const tmp = mkdtempSync(join(tmpdir(), 'kubegate-bench-'))
  const children: Array<Pick<Child, 'stop'>> = []
  let distRemove = (): void => {}
  const rows: Row[] = []
  const results: Record<string, unknown> = {}
  const cleanup = async (): Promise<void> => {
    await Promise.allSettled(children.map((c) => c.stop()))
    rmSync(tmp, { recursive: true, force: true })
    distRemove()
  }
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })

  try {
    // ---------------------------------------------------------------- setup
    // kubegate and the forwarders run from src/ compiled by tsc, as in production (lib/dist.ts says why). A quick
    // run checks the harness, not the figures, and keeps npm test's smoke test short: it runs src/ under tsx.
    if (!QUICK) {
      const tb = Date.now()
      const dist = buildKubegate()
      distRemove = dist.remove
      setChildEnv(DIST_ENV, dist.dir)
      log(`bench: kubegate compiled with tsc in ${Date.now() - tb} ms`)
    }
    const pki = await getTestPki()
    const [upCert, kgCert] = await Promise.all([pki.issue(`bench-upstream-${process.pid}`), pki.issue(`bench-kubegate-${process.pid}`)])
    const issuer = await startTestIssuer({ pki })
    const upstream = spawnChild('procs/upstream.ts', [upCert.certFile, upCert.keyFile])
    children.push(upstream)
    const up = await upstream.next<{ port: number, listBytes: number }>('ready')
    const upstreamUrl = `https://127.0.0.1:${up.port}`
    const saFile = join(tmp, 'sa-token')
    writeFileSync(saFile, 'bench-service-account-token\n', { mode: 0o600 })
    const PATH = '/api/v1/namespaces/user01/pods'

    const tree = (port: number): Record<string, unknown> =>
      kubegateTree({ port, cert: kgCert, issuerUrl: issuer.url, caFile: pki.caFile, upstreamUrl, saFile })
    const startKg = async (name: string, o: { bare?: boolean, workers?: number, execArgv?: string[], authenticationConfig?: string } = {}): Promise<{ child: Child, url: string, pids: number[] }> => {
      const port = await freePort()
      const specFile = join(tmp, `${name}.json`)
      const t = tree(port)
      if (o.authenticationConfig !== undefined) {
        t.authentication = { configFile: o.authenticationConfig }
        delete t.oidc
      }
      writeFileSync(specFile, JSON.stringify({
        tree: t,
        workers: o.workers ?? 1,
        ...(o.bare === true ? { bare: { user: 'user0@example.com', groups: ['students', 'class-2025'] } } : {}),
      }))
      const child = spawnChild('procs/kubegate.ts', [specFile], { execArgv: ['--expose-gc', ...(o.execArgv ?? [])] })
      children.push(child)
      const ready = await child.next<{ url: string, pids?: number[] }>('ready', 60_000)
      return { child, url: ready.url, pids: [child.pid, ...(ready.pids ?? [])] }
    }

    log(`bench: ${QUICK ? 'quick' : 'full'} run, ${ROUNDS} round(s) of ${DURATION}s, pinned=${PINNED}`)
    const profDir = BENCH_DIR + 'results/profiles'
    if (CPU_PROF) mkdirSync(profDir, { recursive: true })
    // Scenario A's kubegate (a second and third issuer, an AuthenticationConfiguration) starts alongside.
    const startAuthn = async (): Promise<{ authn: Awaited<ReturnType<typeof startKg>>, others: Array<Awaited<ReturnType<typeof startTestIssuer>>> }> => {
      const others = await Promise.all([startTestIssuer({ pki, issuerPath: '/ci' }), startTestIssuer({ pki, issuerPath: '/tenant' })])
      const file = join(tmp, 'authentication.yaml')
      writeFileSync(file, threeIssuerConfig(issuer.url, others.map((o) => o.url), pki.caPem))
      return { authn: await startKg('kg-authn', { authenticationConfig: file }), others }
    }
    const [bare, kg, scenarioA] = await Promise.all([
      startKg('bare', { bare: true }),
      startKg('kg', { execArgv: CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [] }),
      ONLY.has('a') ? startAuthn() : undefined,
    ])

    // ---------------------------------------------------------------- tokens
    const key = issuer.privateKey()
    const spec = { issuer: issuer.url, kid: issuer.currentKid }
    const coldRounds = ONLY.has('3') ? ROUNDS : 0
    const coldCount = Math.max(coldRounds * COLD_PER_ROUND, ONLY.has('6') ? CACHE_FILL : 0)
    const tg0 = Date.now()
    const [classTokens, coldTokens] = await Promise.all([
      makeTokens(key, { ...spec, users: 500, count: 500, tag: 'class' }),
      makeTokens(key, { ...spec, users: 500, count: coldCount, tag: 'cold' }),
    ])
    log(`bench: ${500 + coldCount} tokens signed in ${Date.now() - tg0} ms`)
    const oneFile = writeTokenFile(join(tmp, 'one.txt'), [classTokens[0] as string])
    const classFile = writeTokenFile(join(tmp, 'class.txt'), classTokens)
    const coldFiles = Array.from({ length: coldRounds }, (_, r) =>
      writeTokenFile(join(tmp, `cold-${r}.txt`), coldTokens.slice(r * COLD_PER_ROUND, (r + 1) * COLD_PER_ROUND)))
    const fillFile = writeTokenFile(join(tmp, 'fill.txt'), coldTokens.slice(0, CACHE_FILL))
    const forgedRounds = ONLY.has('4') ? ROUNDS : 0
    const forged = makeForgedTokens({ ...spec, count: forgedRounds * FORGED_PER_ROUND, tag: 'f' })
    const forgedFiles = Array.from({ length: forgedRounds }, (_, r) =>
      writeTokenFile(join(tmp, `forged-${r}.txt`), forged.slice(r * FORGED_PER_ROUND, (r + 1) * FORGED_PER_ROUND)))

    const direct: Target = { name: 'direct', url: upstreamUrl, upstreamCpu: CPU_PROXY, pids: () => [], proxyCpus: CPU_PROXY }
    const bareT: Target = { name: 'bare', url: bare.url, upstreamCpu: CPU_LOAD, pids: () => bare.pids, proxyCpus: CPU_PROXY }
    const kgT: Target = { name: 'kubegate', url: kg.url, upstreamCpu: CPU_LOAD, pids: () => kg.pids, proxyCpus: CPU_PROXY }

    const place = (t: Target): void => {
      if (!PINNED) return
      pin(upstream.pid, t.upstreamCpu)
      for (const p of t.pids()) pin(p, t.proxyCpus)
    }
    const wrkOn = (t: Target, tokenFile: string, o: { mode?: 'once' | 'cycle', durationSec?: number, connections?: number } = {}): Promise<WrkResult> => {
      place(t)
      return runWrk({ url: t.url, path: PATH, tokenFile, mode: o.mode, connections: o.connections ?? CONNECTIONS, durationSec: o.durationSec ?? DURATION, cpus: PINNED ? CPU_LOAD : undefined })
    }
    /** Warm-up, then ROUNDS rounds in rotating order, so drift on the shared machine hits every target alike. */
    const compare = async (targets: Target[], file: (t: Target, round: number) => string, mode: (t: Target) => 'once' | 'cycle' = () => 'cycle'): Promise<Record<string, Summary>> => {
      // Warm-up (JIT, TLS sessions, pooled upstream connections); skipped in quick mode, which checks the harness.
      if (!QUICK) for (const t of targets) await wrkOn(t, file(t, -1), { durationSec: 2 })
      const by: Record<string, WrkResult[]> = {}
      for (let r = 0; r < ROUNDS; r++) {
        for (let i = 0; i < targets.length; i++) {
          const t = targets[(i + r) % targets.length] as Target
          ;(by[t.name] ??= []).push(await wrkOn(t, file(t, r), { mode: mode(t) }))
        }
      }
      return Object.fromEntries(Object.entries(by).map(([k, v]) => [k, summarize(v)]))
    }
    const ratioRows = (sc: string, s: Record<string, Summary>, rpsTarget: number | undefined, p99Target?: number): void => {
      const k = s.kubegate as Summary
      const b = s.bare as Summary
      const d = s.direct as Summary
      rows.push({ scenario: sc, metric: 'req/s kubegate | bare | direct', value: `${k.rps} | ${b.rps} | ${d.rps}`, target: '', met: undefined })
      rows.push({ scenario: sc, metric: 'p50/p99 ms kubegate | bare | direct', value: `${(k.p50Us / 1000).toFixed(2)}/${(k.p99Us / 1000).toFixed(2)} | ${(b.p50Us / 1000).toFixed(2)}/${(b.p99Us / 1000).toFixed(2)} | ${(d.p50Us / 1000).toFixed(2)}/${(d.p99Us / 1000).toFixed(2)}`, target: '', met: undefined })
      rows.push({ scenario: sc, metric: 'kubegate/bare req/s', value: r2(k.rps / b.rps), target: rpsTarget === undefined ? '' : `>= ${rpsTarget}`, met: rpsTarget === undefined ? undefined : k.rps / b.rps >= rpsTarget })
      if (p99Target !== undefined) rows.push({ scenario: sc, metric: 'kubegate/bare p99', value: r2(k.p99Us / b.p99Us), target: `<= ${p99Target}`, met: k.p99Us / b.p99Us <= p99Target })
      rows.push({ scenario: sc, metric: 'kubegate/direct, bare/direct req/s', value: `${r2(k.rps / d.rps)}, ${r2(b.rps / d.rps)}`, target: '', met: undefined })
      if (k.non2xx + k.errors > 0) rows.push({ scenario: sc, metric: 'kubegate non-2xx + errors', value: k.non2xx + k.errors, target: '0', met: false })
    }
    const T3 = [direct, bareT, kgT]
    /** kubegate against the HAProxy reference (issue 15: >= 1.0x its req/s, p99 no worse). */
    const haproxyRows = (sc: string, s: Record<string, Summary>): void => {
      const k = s.kubegate as Summary
      const h = s.haproxy as Summary
      rows.push({ scenario: sc, metric: 'req/s | p50/p99 ms HAProxy (jwt_verify every request)', value: `${h.rps} | ${(h.p50Us / 1000).toFixed(2)}/${(h.p99Us / 1000).toFixed(2)}`, target: '', met: undefined })
      rows.push({ scenario: sc, metric: 'kubegate/HAProxy req/s', value: r2(k.rps / h.rps), target: '>= 1.0', met: k.rps / h.rps >= 1 })
      rows.push({ scenario: sc, metric: 'kubegate/HAProxy p99', value: r2(k.p99Us / h.p99Us), target: '<= 1.0', met: k.p99Us <= h.p99Us })
      if (h.non2xx + h.errors > 0) rows.push({ scenario: sc, metric: 'HAProxy non-2xx + errors', value: h.non2xx + h.errors, target: '0', met: false })
    }

    /** HAProxy with jwt_verify on the same upstream, the same certificate towards wrk, pinned like kubegate. */
    const startHaproxyTarget = async (): Promise<Target> => {
      log(`bench: ${ensureHaproxy(log)}`)
      const hp = await startHaproxy({
        dir: tmp,
        port: await freePort(),
        upstreamPort: up.port,
        caFile: pki.caFile,
        issuer: issuer.url,
        audience: 'kubegate',
        publicKeyPem: issuer.publicKeyPem(),
        serviceAccountToken: 'bench-service-account-token',
        tls: { certFile: kgCert.certFile, keyFile: kgCert.keyFile },
      })
      children.push(hp)
      // A reference that let forged tokens through would measure nothing: check both answers first.
      const valid = await statusFor(hp.url, PATH, classTokens[0] as string, pki.caPem)
      const forgedStatus = await statusFor(hp.url, PATH, makeForgedTokens({ ...spec, count: 1, tag: 'hap' })[0] as string, pki.caPem)
      results.haproxyCheck = { valid, forged: forgedStatus }
      rows.push({ scenario: '1 one user cached', metric: 'HAProxy answers a valid | a forged token', value: `${valid} | ${forgedStatus}`, target: '200 | 401', met: valid === 200 && forgedStatus === 401 })
      if (valid !== 200 || forgedStatus !== 401) throw new Error(`haproxy reference misconfigured: valid ${valid}, forged ${forgedStatus}`)
      return { name: 'haproxy', url: hp.url, upstreamCpu: CPU_LOAD, pids: () => [hp.pid], proxyCpus: CPU_PROXY }
    }

    /** One of procs/forwarder.ts's bare forwarders behind the same HTTPS listener (no authentication, no log). */
    const fwdSpec = join(tmp, 'fwd.json')
    writeFileSync(fwdSpec, JSON.stringify({ upstream: upstreamUrl, ca: pki.caFile, cert: kgCert.certFile, key: kgCert.keyFile }))
    const startForwarder = async (kind: string, name = kind): Promise<Target> => {
      const c = spawnChild('procs/forwarder.ts', [kind, fwdSpec])
      children.push(c)
      const r = await c.next<{ url: string }>('ready')
      return { name, url: r.url, upstreamCpu: CPU_LOAD, pids: () => [c.pid], proxyCpus: CPU_PROXY }
    }

    // ---------------------------------------------------------------- 1: one user, cached token
    if (ONLY.has('1')) {
      log('bench: scenario 1 (one user, cached token)')
      const hapT = await startHaproxyTarget()
      // The floor of any proxy built on node:https and undici: kubegate's forwarder alone, nothing else.
      const floorT = await startForwarder('dispatch', 'floor')
      const s = await compare([...T3, hapT, floorT], () => oneFile)
      results.s1 = s
      ratioRows('1 one user cached', s, 0.95, 1.1)
      haproxyRows('1 one user cached', s)
      const f = s.floor as Summary
      rows.push({ scenario: '1 one user cached', metric: 'req/s | p99 ms node floor (node:https + undici, no auth, no log)', value: `${f.rps} | ${(f.p99Us / 1000).toFixed(2)}`, target: '', met: undefined })
      rows.push({ scenario: '1 one user cached', metric: 'node floor/HAProxy, kubegate/node floor req/s', value: `${r2(f.rps / (s.haproxy as Summary).rps)}, ${r2((s.kubegate as Summary).rps / f.rps)}`, target: '', met: undefined })
    }
    // ---------------------------------------------------------------- 2: classroom
    if (ONLY.has('2')) {
      log('bench: scenario 2 (classroom, 500 users)')
      const s = await compare(T3, () => classFile)
      results.s2 = s
      ratioRows('2 classroom 500', s, 0.92)
    }
    // ---------------------------------------------------------------- A: AuthenticationConfiguration, cached
    if (ONLY.has('a')) {
      log('bench: scenario A (classroom tokens, AuthenticationConfiguration with 3 issuers and CEL mappings vs --oidc-* flags)')
      const { authn, others } = scenarioA as NonNullable<typeof scenarioA>
      try {
        const authnT: Target = { name: 'kubegate-authn', url: authn.url, upstreamCpu: CPU_LOAD, pids: () => authn.pids, proxyCpus: CPU_PROXY }
        // The scenario measures the cached path: both caches hold the classroom's tokens before any round
        // (a quick run has no warm-up, and on a loaded machine its one short round could be all misses).
        await Promise.all([kg.child.ask({ type: 'authenticate-file', file: classFile }, 120_000), authn.child.ask({ type: 'authenticate-file', file: classFile }, 120_000)])
        const s = await compare([bareT, kgT, authnT], () => classFile)
        const stats = await Promise.all([kg.child.ask<{ misses: number, hits: number }>({ type: 'stats' }), authn.child.ask<{ misses: number, hits: number }>({ type: 'stats' })])
        results.sA = { ...s, cacheStats: { flags: stats[0], authn: stats[1] } }
        const f = s.kubegate as Summary
        const a = s['kubegate-authn'] as Summary
        rows.push({ scenario: 'A authn config', metric: 'req/s flags | 3 issuers + CEL | bare', value: `${f.rps} | ${a.rps} | ${(s.bare as Summary).rps}`, target: '', met: undefined })
        rows.push({ scenario: 'A authn config', metric: 'req/s 3 issuers + CEL / flags', value: r2(a.rps / f.rps), target: '>= 0.95', met: a.rps / f.rps >= 0.95 })
        rows.push({ scenario: 'A authn config', metric: 'p99 ms flags | 3 issuers + CEL', value: `${(f.p99Us / 1000).toFixed(2)} | ${(a.p99Us / 1000).toFixed(2)}`, target: '', met: undefined })
        if (a.non2xx + a.errors > 0) rows.push({ scenario: 'A authn config', metric: 'non-2xx + errors (3 issuers + CEL)', value: a.non2xx + a.errors, target: '0', met: false })
        await authn.child.stop()
      } finally {
        await Promise.all(others.map((o) => o.close()))
      }
    }
    // ---------------------------------------------------------------- 3: cold tokens
    if (ONLY.has('3')) {
      log('bench: scenario 3 (cold: every token new)')
      const before = await kg.child.ask<{ misses: number, hits: number }>({ type: 'stats' })
      // kubegate gets a never-seen token per request (a fresh file per round, each token used once);
      // the references, which do not verify, cycle the classroom tokens through the same Lua code.
      const s = await compare(T3, (t, r) => t.name === 'kubegate' && r >= 0 ? coldFiles[r] as string : classFile, (t) => t.name === 'kubegate' ? 'once' : 'cycle')
      const after = await kg.child.ask<{ misses: number, hits: number }>({ type: 'stats' })
      results.s3 = { ...s, verifiedDuring: after.misses - before.misses, cacheHitsDuring: after.hits - before.hits, tokensPerRound: COLD_PER_ROUND, connections: CONNECTIONS }
      ratioRows('3 cold tokens', s, 0.70)
      const used = (s.kubegate as Summary).rounds.filter((w) => w.requests >= COLD_PER_ROUND - CONNECTIONS).length
      if (used > 0) rows.push({ scenario: '3 cold tokens', metric: 'rounds that used up their token file (req/s is a lower bound)', value: `${used} of ${ROUNDS}`, target: '0', met: false })
      rows.push({ scenario: '3 cold tokens', metric: 'tokens verified (cache misses)', value: after.misses - before.misses, target: `= requests (${(s.kubegate as Summary).requests})`, met: after.misses - before.misses >= (s.kubegate as Summary).requests })
    }
    // ---------------------------------------------------------------- 4: forged flood
    if (ONLY.has('4')) {
      log('bench: scenario 4 (forged-token flood during scenario 1)')
      const st0 = await upstream.ask<{ forged: number }>({ type: 'stats' })
      place(kgT)
      const alone: WrkResult[] = []
      const flooded: WrkResult[] = []
      const floods: WrkResult[] = []
      const VALID_C = 16
      for (let r = 0; r < ROUNDS; r++) {
        alone.push(await runWrk({ url: kg.url, path: PATH, tokenFile: oneFile, connections: VALID_C, durationSec: DURATION, cpus: PINNED ? CPU_LOAD : undefined }))
        const [v, f] = await Promise.all([
          runWrk({ url: kg.url, path: PATH, tokenFile: oneFile, connections: VALID_C, durationSec: DURATION, cpus: PINNED ? CPU_LOAD : undefined }),
          runWrk({ url: kg.url, path: PATH, tokenFile: forgedFiles[r] as string, mode: 'once', connections: 64, durationSec: DURATION, cpus: PINNED ? CPU_LOAD : undefined }),
        ])
        flooded.push(v)
        floods.push(f)
      }
      const st1 = await upstream.ask<{ forged: number }>({ type: 'stats' })
      const forgedForwarded = st1.forged - st0.forged
      const a = summarize(alone)
      const f = summarize(flooded)
      const fl = summarize(floods)
      results.s4 = { alone: a, underFlood: f, flood: fl, forgedForwarded }
      rows.push({ scenario: '4 forged flood', metric: 'valid req/s alone | under flood', value: `${a.rps} | ${f.rps}`, target: '', met: undefined })
      rows.push({ scenario: '4 forged flood', metric: 'valid p99 ms alone | under flood', value: `${(a.p99Us / 1000).toFixed(2)} | ${(f.p99Us / 1000).toFixed(2)}`, target: '', met: undefined })
      rows.push({ scenario: '4 forged flood', metric: 'valid p99 under flood / alone', value: r2(f.p99Us / a.p99Us), target: '<= 2', met: f.p99Us / a.p99Us <= 2 })
      rows.push({ scenario: '4 forged flood', metric: 'valid non-2xx under flood', value: f.non2xx + f.errors, target: '0', met: f.non2xx + f.errors === 0 })
      rows.push({ scenario: '4 forged flood', metric: 'forged requests sent | refused', value: `${fl.requests} | ${fl.non2xx}`, target: '', met: undefined })
      const usedUp = floods.filter((w) => w.requests >= FORGED_PER_ROUND - 64).length
      if (usedUp > 0) rows.push({ scenario: '4 forged flood', metric: 'flood rounds that used up their forged tokens (flood ended early)', value: `${usedUp} of ${ROUNDS}`, target: '0', met: false })
      rows.push({ scenario: '4 forged flood', metric: 'forged requests forwarded (counted upstream)', value: forgedForwarded, target: '0', met: forgedForwarded === 0 })
    }
    // ---------------------------------------------------------------- 5: watches
    if (ONLY.has('5')) {
      log(`bench: scenario 5 (${WATCHES} watches held open, events pushed)`)
      const client = spawnChild('procs/watch-client.ts', [])
      children.push(client)
      const EVENTS = QUICK ? 3 : 20
      const out: Record<string, { opened: number, failed: number, p50Ms: number, p99Ms: number, rssPerWatchKiB?: number, heapPerWatchKiB?: number, firstError?: string }> = {}
      for (const t of [direct, kgT, bareT]) {
        place(t)
        if (PINNED) pin(client.pid, CPU_LOAD)
        const proxy = t.name === 'kubegate' ? kg.child : t.name === 'bare' ? bare.child : undefined
        const m0 = proxy === undefined ? undefined : await proxy.ask<{ rss: number, heapUsed: number }>({ type: 'mem' })
        const opened = await client.ask<{ ok: number, failed: number, firstError?: string }>({ type: 'open', url: t.url, path: PATH + '?watch=1', token: classTokens[1], n: WATCHES, ca: pki.caPem }, 120_000)
        const m1 = proxy === undefined ? undefined : await proxy.ask<{ rss: number, heapUsed: number }>({ type: 'mem' })
        for (let e = 0; e < EVENTS; e++) {
          await upstream.ask({ type: 'push' })
          await new Promise((resolve) => setTimeout(resolve, QUICK ? 100 : 150))
        }
        await new Promise((resolve) => setTimeout(resolve, 300))
        const rep = await client.ask<{ latUs: number[] }>({ type: 'report' })
        await client.ask({ type: 'close' })
        await upstream.ask({ type: 'close-watches' })
        out[t.name] = {
          opened: opened.ok,
          failed: opened.failed,
          firstError: opened.firstError,
          p50Ms: r2(pct(rep.latUs, 50) / 1000),
          p99Ms: r2(pct(rep.latUs, 99) / 1000),
          ...(m0 !== undefined && m1 !== undefined && opened.ok > 0
            ? { rssPerWatchKiB: r2((m1.rss - m0.rss) / 1024 / opened.ok), heapPerWatchKiB: r2((m1.heapUsed - m0.heapUsed) / 1024 / opened.ok) }
            : {}),
        }
        await new Promise((resolve) => setTimeout(resolve, 500))
      }
      results.s5 = out
      const k = out.kubegate as NonNullable<typeof out.kubegate>
      const d = out.direct as NonNullable<typeof out.direct>
      rows.push({ scenario: '5 watches', metric: `watches open kubegate | direct (of ${WATCHES})`, value: `${k.opened} | ${d.opened}`, target: `${WATCHES}`, met: k.opened === WATCHES, note: k.firstError })
      rows.push({ scenario: '5 watches', metric: 'kubegate RSS per watch KiB (heap)', value: `${k.rssPerWatchKiB} (${k.heapPerWatchKiB})`, target: '<= 64', met: (k.rssPerWatchKiB ?? Infinity) <= 64 })
      rows.push({ scenario: '5 watches', metric: 'event p50/p99 ms kubegate | bare | direct', value: `${k.p50Ms}/${k.p99Ms} | ${out.bare?.p50Ms}/${out.bare?.p99Ms} | ${d.p50Ms}/${d.p99Ms}`, target: '', met: undefined })
      rows.push({ scenario: '5 watches', metric: 'added event p99 ms (kubegate - direct)', value: r2(k.p99Ms - d.p99Ms), target: '<= 5', met: k.p99Ms - d.p99Ms <= 5 })
      await client.stop()
    }
    // ---------------------------------------------------------------- 6: memory per cached token
    if (ONLY.has('6')) {
      log(`bench: scenario 6 (${CACHE_FILL} cached tokens)`)
      const fresh = await startKg('mem')
      const m0 = await fresh.child.ask<{ heapUsed: number, rss: number, cacheSize: number, gc: boolean }>({ type: 'mem' })
      const a = await fresh.child.ask<{ ok: number, failed: number }>({ type: 'authenticate-file', file: fillFile }, 300_000)
      const m1 = await fresh.child.ask<{ heapUsed: number, rss: number, cacheSize: number }>({ type: 'mem' })
      const n = m1.cacheSize - m0.cacheSize
      const perEntry = (m1.heapUsed - m0.heapUsed) / n
      results.s6 = { entries: n, verified: a.ok, failed: a.failed, heapBytesPerEntry: Math.round(perEntry), rssBytesPerEntry: Math.round((m1.rss - m0.rss) / n), gc: m0.gc }
      rows.push({ scenario: '6 cache memory', metric: 'entries cached (verified ok | failed)', value: `${n} (${a.ok} | ${a.failed})`, target: `${CACHE_FILL}`, met: n === CACHE_FILL })
      rows.push({ scenario: '6 cache memory', metric: 'heap bytes per cached token', value: Math.round(perEntry), target: '<= 2048', met: perEntry <= 2048 })
      await fresh.child.stop()
    }
    // ---------------------------------------------------------------- 7: forwarders
    if (ONLY.has('7')) {
      log('bench: scenario 7 (forwarder comparison)')
      const kinds = ['dispatch', 'stream', 'http-pipe', 'http-proxy']
      const fwd = await Promise.all(kinds.map(async (k) => startForwarder(k)))
      const s = await compare([direct, ...fwd], () => oneFile)
      results.s7 = s
      const base = (s.dispatch as Summary).rps
      for (const k of kinds) {
        const x = s[k] as Summary
        rows.push({ scenario: '7 forwarders', metric: `${k}: req/s, p99 ms, vs dispatch, vs direct`, value: `${x.rps}, ${(x.p99Us / 1000).toFixed(2)}, ${r2(x.rps / base)}, ${r2(x.rps / (s.direct as Summary).rps)}`, target: '', met: undefined })
      }
    }
    // ---------------------------------------------------------------- workers
    if (ONLY.has('w')) {
      log('bench: workers (2 processes on both cores) vs single process')
      // A quick run checks that workers serve; it skips the bare x2 reference (three more processes to start).
      const [bare2, kg2] = await Promise.all([QUICK ? undefined : startKg('bare2', { bare: true, workers: 2 }), startKg('kg2', { workers: 2 })])
      const both = PINNED ? '0,1' : CPU_PROXY
      const T = [
        direct,
        bareT,
        kgT,
        ...(bare2 === undefined ? [] : [{ name: 'bare x2', url: bare2.url, upstreamCpu: CPU_LOAD, pids: () => bare2.pids, proxyCpus: both }]),
        { name: 'kubegate x2', url: kg2.url, upstreamCpu: CPU_LOAD, pids: () => kg2.pids, proxyCpus: both },
      ]
      const s = await compare(T, () => classFile)
      results.workers = s
      const d = (s.direct as Summary).rps
      for (const t of T.slice(1)) {
        const x = s[t.name] as Summary
        rows.push({ scenario: 'W workers (classroom)', metric: `${t.name}: req/s, p99 ms, vs direct`, value: `${x.rps}, ${(x.p99Us / 1000).toFixed(2)}, ${r2(x.rps / d)}`, target: t.name === 'kubegate x2' ? '> 0.45 (HAProxy)' : '', met: t.name === 'kubegate x2' ? x.rps / d > 0.45 : undefined })
      }
      await Promise.all([bare2?.child.stop(), kg2.child.stop()])
    }
    // ---------------------------------------------------------------- micro
    let micro: MicroResult[] = []
    if (ONLY.has('micro')) {
      log('bench: micro-benchmarks')
      if (PINNED) pin(process.pid, CPU_PROXY)
      micro = await runMicro({ quick: QUICK })
      results.micro = micro
    }

    // ---------------------------------------------------------------- report
    const verdict = (m: boolean | undefined): string => m === undefined ? '' : m ? 'met' : 'NOT MET'
    const table = [['scenario', 'metric', 'value', 'target', ''], ...rows.map((r) => [r.scenario, r.metric, String(r.value), r.target, verdict(r.met)])]
    const widths = (table[0] as string[]).map((_, i) => Math.max(...table.map((row) => (row[i] as string).length)))
    const fmt = (row: string[]): string => '| ' + row.map((c, i) => c.padEnd(widths[i] as number)).join(' | ') + ' |'
    const lines = [fmt(table[0] as string[]), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...table.slice(1).map(fmt)]
    if (micro.length > 0) {
      lines.push('', '| micro-benchmark | ns/op |', '|---|---|', ...micro.map((m) => `| ${m.name} | ${m.nsPerOp} |`))
    }
    process.stdout.write(lines.join('\n') + '\n')
    const machine = { cpus: cpus().length, model: cpus()[0]?.model, memGiB: Math.round(totalmem() / 2 ** 30), kernel: release(), node: process.version, pinned: PINNED }
    mkdirSync(BENCH_DIR + 'results', { recursive: true })
    writeFileSync(OUT, JSON.stringify({ date: new Date().toISOString(), quick: QUICK, rounds: ROUNDS, durationSec: DURATION, connections: CONNECTIONS, machine, rows, results, elapsedSec: Math.round((Date.now() - t0) / 1000) }, null, 2) + '\n')
    log(`bench: done in ${Math.round((Date.now() - t0) / 1000)} s; JSON in ${OUT}`)
    await issuer.close()
  } finally {
    await cleanup()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? err.stack : String(err)}\n`)
  process.exit(1)
})


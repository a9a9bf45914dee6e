/**
 * Cost of the shared-state admissions on the hot path (revocation check + rate-limit check), per request,
 * with 1,000 live revocations and 10,000 identities. Run: `npx tsx bench/micro/shared-state-admission.ts`.
 */
import pino from 'pino'
import type { Authenticated } from '../../src/auth/authenticator.js'
import { createRateLimiter } from '../../src/shared-state/rate-limit.js'
import { createRevocationList } from '../../src/shared-state/revocations.js'
import { createMemoryStore } from '../../src/store/memory.js'

const logger = pino({ level: 'silent' })
const store = createMemoryStore()
const revocations = createRevocationList({
  store, logger, maxTokenLifetimeSeconds: 86400, clockSkewSeconds: 60, resyncSeconds: 10, maxStalenessSeconds: 30, onRevoked: () => undefined,
})
await revocations.start()
for (let i = 0; i < 1000; i++) await revocations.add({ kind: i % 2 === 0 ? 'user' : 'sub', value: `revoked-${i}`, by: 'bench' })
const limiter = createRateLimiter({
  store, logger, requestsPerSecond: 1e9, burst: 1e9, maxLongRunning: 32, exemptGroups: ['instructors'], syncMs: 100,
  sessions: { count: () => 0 }, instanceId: 'bench',
})
const iat = Math.floor(Date.now() / 1000)
const auths: Authenticated[] = Array.from({ length: 10_000 }, (_, i) => ({
  identity: { user: `user${i}@example.com`, groups: ['students', `class-${i % 20}`], uid: undefined, sub: `sub-${i}`, exp: iat + 3600, iat },
  headers: [],
  tokenHash: `hash-${i}`.padEnd(43, 'x'),
  keyId: 'k',
}))
const ctx = { longRunning: false, upgrade: false }

function run (n: number): number {
  let denied = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const a = auths[i % auths.length] as Authenticated
    if (revocations.check(a) !== undefined || limiter.check(a, ctx) !== undefined) denied++
  }
  const ns = Number(process.hrtime.bigint() - t0) / n
  if (denied !== 0) throw new Error('unexpected denial')
  return ns
}

run(200_000) // warm-up (and creates every bucket)
const results = [run(1_000_000), run(1_000_000), run(1_000_000)].sort((x, y) => x - y)
process.stdout.write(`shared-state admissions: median ${results[1]?.toFixed(0)} ns/request (runs: ${results.map((r) => r.toFixed(0)).join(', ')})\n`)
limiter.close()
await revocations.close()
await store.close()

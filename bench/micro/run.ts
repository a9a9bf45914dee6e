/**
 * Micro-benchmarks of the per-request functions, one module per hot function (bench/micro/*.ts).
 * Run alone with `npx tsx bench/micro/run.ts [--quick]`, or as part of `npm run bench`.
 */
import { generateKeyPairSync, sign } from 'node:crypto'
import { cases as accessLog } from './access-log.js'
import { cases as authn } from './authn.js'
import { cases as bearer } from './bearer.js'
import { cases as cache } from './cache.js'
import { cases as claims } from './claims.js'
import { cases as headers } from './headers.js'
import { measure, type MicroResult } from './harness.js'
import { cases as requestInfo } from './request-info.js'
import { cases as verify } from './verify.js'

export type { MicroResult }

export async function runMicro (o: { quick: boolean }): Promise<MicroResult[]> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const issuer = 'https://127.0.0.1:5556'
  const kid = 'k1'
  const now = Math.floor(Date.now() / 1000)
  const tokenFor = (i: number): string => {
    const h = Buffer.from(JSON.stringify({ alg: 'RS256', kid })).toString('base64url')
    const payload = { iss: issuer, sub: 'CgR1c2VyMDE' + i, aud: 'kubegate', exp: now + 3600, iat: now, email: `user${i}@example.com`, email_verified: true, groups: ['students', 'class-2025'], name: `User ${i}` }
    const p = Buffer.from(JSON.stringify(payload)).toString('base64url')
    return `${h}.${p}.${sign('sha256', Buffer.from(`${h}.${p}`), privateKey).toString('base64url')}`
  }
  const tokens = Array.from({ length: 500 }, (_, i) => tokenFor(i))
  const token = tokens[0] as string
  const payload = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
  const all = [
    ...bearer(token),
    ...cache(tokens),
    ...headers(token),
    ...claims(payload),
    ...requestInfo(),
    ...accessLog(),
    ...verify(token, publicKey, kid, issuer),
    ...await authn(tokens),
  ]
  const out: MicroResult[] = []
  for (const c of all) out.push(await measure(c, o.quick ? 20 : 300))
  return out
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const res = await runMicro({ quick: process.argv.includes('--quick') })
  for (const r of res) process.stdout.write(`${r.name.padEnd(64)} ${String(r.nsPerOp).padStart(10)} ns/op\n`)
}

/**
 * Token files for wrk: Dex-shaped RS256 ID tokens signed with the bench issuer's key, made on worker
 * threads (an RS256 signature costs ~0.75 ms here, and the cold scenario needs one per request).
 */
import { writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { randomBytes, type KeyObject } from 'node:crypto'

export interface TokenSpec {
  issuer: string
  kid: string
  /** User of token i: `user<i % users>@example.com`. */
  users: number
  count: number
  /** Distinguishes token sets (sub/jti), so two sets never share a token. */
  tag: string
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const { createPrivateKey, sign } = require('node:crypto')
const { pem, spec, from, to } = workerData
const key = createPrivateKey(pem)
const b64 = (s) => Buffer.from(s).toString('base64url')
const header = b64(JSON.stringify({ alg: 'RS256', kid: spec.kid }))
const now = Math.floor(Date.now() / 1000)
const out = []
for (let i = from; i < to; i++) {
  const u = i % spec.users
  const payload = b64(JSON.stringify({
    iss: spec.issuer, sub: 'CgR1' + spec.tag + '-' + i, aud: 'kubegate', exp: now + 7200, iat: now,
    email: 'user' + u + '@example.com', email_verified: true, groups: ['students', 'class-2025'], name: 'User ' + u,
  }))
  const input = header + '.' + payload
  out.push(input + '.' + sign('sha256', Buffer.from(input), key).toString('base64url'))
}
parentPort.postMessage(out)
`

export async function makeTokens (privateKey: KeyObject, spec: TokenSpec): Promise<string[]> {
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
  const parts = Math.max(1, Math.min(availableParallelism(), Math.ceil(spec.count / 200)))
  const size = Math.ceil(spec.count / parts)
  const chunks = await Promise.all(Array.from({ length: parts }, (_, p) => new Promise<string[]>((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { pem, spec, from: p * size, to: Math.min(spec.count, (p + 1) * size) } })
    w.once('message', resolve)
    w.once('error', reject)
  })))
  return chunks.flat()
}

/**
 * Forged tokens: the issuer's real `kid`, a plausible payload, and a random signature of the right length,
 * each one distinct so the negative cache never answers for them: every one costs a signature check,
 * the worst case for the verifier. Their users are under forged.example, which the upstream counts.
 */
export function makeForgedTokens (spec: Omit<TokenSpec, 'users'>): string[] {
  const b64 = (s: string): string => Buffer.from(s).toString('base64url')
  const header = b64(JSON.stringify({ alg: 'RS256', kid: spec.kid }))
  const now = Math.floor(Date.now() / 1000)
  const out: string[] = []
  for (let i = 0; i < spec.count; i++) {
    const payload = b64(JSON.stringify({
      iss: spec.issuer, sub: 'forged-' + spec.tag + '-' + i, aud: 'kubegate', exp: now + 7200, iat: now,
      email: `mallory-${i}@forged.example`, email_verified: true, groups: ['system:masters'],
    }))
    out.push(`${header}.${payload}.${randomBytes(256).toString('base64url')}`)
  }
  return out
}

export function writeTokenFile (path: string, tokens: readonly string[]): string {
  writeFileSync(path, tokens.join('\n') + '\n', { mode: 0o600 })
  return path
}

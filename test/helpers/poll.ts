// Test helpers for probe-style checks: a plain HTTP GET (metrics and probe listeners) and waiting until a condition holds.
import assert from 'node:assert/strict'
import { request } from 'node:http'

/** GET `url` on a fresh connection; resolves status and body text. */
export function get (url: string): Promise<{ status: number, text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

/**
 * Polls `pred` every 50 ms until it holds; fails the test after `ms`. The limit only bounds a broken run:
 * a test waits for a state, never for a duration.
 */
export async function until (what: string, pred: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (await pred()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  assert.fail(`timed out waiting for ${what}`)
}

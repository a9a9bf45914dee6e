// Unit tests of the authentication step under the failed-authentication budget (fake authenticator, manual clock).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { Authenticated } from '../../../src/auth/authenticator.js'
import { KubegateError } from '../../../src/errors.js'
import { authenticateWithinBudget } from '../../../src/server/budgeted-authentication.js'
import { FailedAuthBudget } from '../../../src/server/failed-auth-budget.js'

const ALICE = { identity: { user: 'alice' }, headers: [], tokenHash: 'h-alice', keyId: undefined } as unknown as Authenticated
const ADDR = '198.51.100.7'
/** The request is its address here; the handler passes the IncomingMessage and client-address.ts. */
const from = (address: string | undefined): string | undefined => address

/** `cached` is in the cache; `valid` verifies; `busy` gets 503; `negative` is a negative-cache hit; anything else fails verification. */
function fakeAuthenticator () {
  const verified: string[] = []
  return {
    verified,
    cached: (t: string) => t === 'cached' ? ALICE : undefined,
    authenticate (t: string): Authenticated | Promise<Authenticated> {
      if (t === 'cached') return ALICE
      if (t === 'negative') throw new KubegateError('KG_ERR_BAD_TOKEN', undefined, { failure: 'bad_signature' })
      verified.push(t)
      if (t === 'valid') return Promise.resolve(ALICE)
      if (t === 'busy') return Promise.reject(new KubegateError('KG_ERR_VERIFIER_BUSY', undefined, { retryAfter: 1, failure: 'busy' }))
      return Promise.reject(new KubegateError('KG_ERR_BAD_TOKEN', undefined, { failure: 'bad_signature' }))
    },
  }
}

function budget (burst = 2): FailedAuthBudget {
  const t = 5_000
  return new FailedAuthBudget({ ratePerSecond: 1, burst, maxAddresses: 10, now: () => t })
}

async function refused (p: () => Authenticated | Promise<Authenticated>): Promise<KubegateError> {
  try {
    await p()
  } catch (err) {
    assert.ok(err instanceof KubegateError)
    return err
  }
  assert.fail('expected a refusal')
}

test('failed verifications are charged; beyond the burst a new token gets 429 before it is verified', async () => {
  const a = fakeAuthenticator()
  const b = budget()
  for (const t of ['forged-1', 'forged-2']) assert.equal((await refused(() => authenticateWithinBudget(a, t, b, from, ADDR))).statusCode, 401)
  const e = await refused(() => authenticateWithinBudget(a, 'forged-3', b, from, ADDR))
  assert.equal(e.statusCode, 429)
  assert.deepEqual(a.verified, ['forged-1', 'forged-2'], 'the third was never verified')
})

test('a cached token from an address over budget is answered synchronously, never refused', async () => {
  const a = fakeAuthenticator()
  const b = budget()
  for (const t of ['forged-1', 'forged-2']) await refused(() => authenticateWithinBudget(a, t, b, from, ADDR))
  assert.equal(authenticateWithinBudget(a, 'cached', b, from, ADDR), ALICE)
  // ... while a valid token the cache does not hold yet waits for the budget like any unknown token.
  assert.equal((await refused(() => authenticateWithinBudget(a, 'valid', b, from, ADDR))).statusCode, 429)
})

test('successes, 503s and negative-cache answers are not charged', async () => {
  const a = fakeAuthenticator()
  const b = budget()
  for (let i = 0; i < 5; i++) {
    assert.equal(await authenticateWithinBudget(a, 'valid', b, from, ADDR), ALICE)
    assert.equal((await refused(() => authenticateWithinBudget(a, 'busy', b, from, ADDR))).statusCode, 503)
    assert.equal((await refused(() => authenticateWithinBudget(a, 'negative', b, from, ADDR))).statusCode, 401)
  }
  for (const t of ['forged-1', 'forged-2']) assert.equal((await refused(() => authenticateWithinBudget(a, t, b, from, ADDR))).statusCode, 401)
  assert.equal((await refused(() => authenticateWithinBudget(a, 'forged-3', b, from, ADDR))).statusCode, 429)
})

test('other addresses keep their own budget; no address (socket gone) is not budgeted', async () => {
  const a = fakeAuthenticator()
  const b = budget()
  for (const t of ['forged-1', 'forged-2']) await refused(() => authenticateWithinBudget(a, t, b, from, ADDR))
  assert.equal((await refused(() => authenticateWithinBudget(a, 'forged-3', b, from, '203.0.113.9'))).statusCode, 401)
  assert.equal((await refused(() => authenticateWithinBudget(a, 'forged-4', b, from, undefined))).statusCode, 401)
})

test('a cache hit does not even compute the client address (the hot path stays as it was)', () => {
  const a = fakeAuthenticator()
  let asked = 0
  const counting = (address: string): string => { asked++; return address }
  assert.equal(authenticateWithinBudget(a, 'cached', budget(), counting, ADDR), ALICE)
  assert.equal(asked, 0)
})

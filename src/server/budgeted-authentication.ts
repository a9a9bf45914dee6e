// The authentication step under the failed-authentication budget: cache hits pass untouched, verifications are admitted per client address.
import type { Authenticated, Authenticator } from '../auth/authenticator.js'
import { KubegateError } from '../errors.js'
import type { BudgetTicket, FailedAuthBudget } from './failed-auth-budget.js'

/** A verdict that is the token's fault (401), as opposed to kubegate's or the issuer's state (503). */
function isRefusal (err: unknown): boolean {
  return err instanceof KubegateError && err.statusCode === 401
}

/**
 * Authenticates `token` sent by `req`: a token the cache holds is answered as always (synchronously, never
 * refused by the budget, its client address never computed); any other token is admitted by the budget of
 * `addressOf(req)` before its signature is looked at, and charged only if it is refused. Throws or rejects
 * with a KubegateError (429 when over budget).
 */
export function authenticateWithinBudget<R> (authenticator: Pick<Authenticator, 'authenticate' | 'cached'>, token: string,
  budget: FailedAuthBudget, addressOf: (req: R) => string | undefined, req: R): Authenticated | Promise<Authenticated> {
  const hit = authenticator.cached(token)
  if (hit !== undefined) return hit
  const address = addressOf(req)
  // No address: the socket is already gone, and nothing will be answered anyway.
  if (address === undefined) return authenticator.authenticate(token)
  const ticket = budget.admit(address)
  if (ticket instanceof KubegateError) throw ticket
  let result: Authenticated | Promise<Authenticated>
  try {
    result = authenticator.authenticate(token)
  } catch (err) {
    // Answered without a verification (the negative cache): nothing spent.
    budget.settle(ticket, false)
    throw err
  }
  if (!(result instanceof Promise)) {
    budget.settle(ticket, false)
    return result
  }
  return settleWhenDone(result, budget, ticket)
}

/**
 * The step as one function of (token, request), for the routes that authenticate on their own (the admin API):
 * the budget when there is one, the authenticator alone otherwise.
 */
export function budgetedAuthentication<R> (authenticator: Pick<Authenticator, 'authenticate' | 'cached'>, budget: FailedAuthBudget | undefined,
  addressOf: (req: R) => string | undefined): (token: string, req: R) => Authenticated | Promise<Authenticated> {
  if (budget === undefined) return (token) => authenticator.authenticate(token)
  return (token, req) => authenticateWithinBudget(authenticator, token, budget, addressOf, req)
}

function settleWhenDone (verification: Promise<Authenticated>, budget: FailedAuthBudget, ticket: BudgetTicket): Promise<Authenticated> {
  return verification.then(
    (verified) => {
      budget.settle(ticket, false)
      return verified
    },
    (err: unknown) => {
      budget.settle(ticket, isRefusal(err))
      throw err
    },
  )
}

// What stands between a forged-token flood and the signature checks: the per-address budget, its tarpit, and the authentication step under them.
import type { Authenticated, Authenticator } from '../auth/authenticator.js'
import { budgetedAuthentication } from './budgeted-authentication.js'
import { buildFailedAuthBudget, type FailedAuthBudget, type FailedAuthBudgetConfig } from './failed-auth-budget.js'
import { buildTarpit, type Tarpit } from './tarpit.js'

export interface FloodDefence<R> {
  /** Undefined when `server.failedAuthPerAddress` turns the budget off. */
  readonly budget: FailedAuthBudget | undefined
  /** Undefined without a budget, or with `tarpitSeconds: 0`. */
  readonly tarpit: Tarpit | undefined
  /** Authentication through the budget, for the routes that authenticate on their own (the admin API). */
  readonly authenticate: (token: string, req: R) => Authenticated | Promise<Authenticated>
}

export interface FloodDefenceDeps<R> {
  readonly authenticator: Pick<Authenticator, 'authenticate' | 'cached'>
  readonly clientAddress: (req: R) => string | undefined
  readonly onExhausted?: () => void
  readonly now?: () => number
}

/** The flood defence from `server.failedAuthPerAddress` (docs/operations.md, "Forged-token floods"). */
export function buildFloodDefence<R> (config: FailedAuthBudgetConfig & { readonly tarpitSeconds: number, readonly maxTarpitted: number },
  deps: FloodDefenceDeps<R>): FloodDefence<R> {
  const budget = buildFailedAuthBudget(config, deps.onExhausted, deps.now)
  return {
    budget,
    tarpit: budget === undefined ? undefined : buildTarpit(config),
    authenticate: budgetedAuthentication(deps.authenticator, budget, deps.clientAddress),
  }
}

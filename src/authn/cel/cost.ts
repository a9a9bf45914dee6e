// Bounds what one CEL expression may cost: size limits checked at load, and a runtime meter on every comprehension iteration.
import { celFunc, CelScalar, type CelFunc, type parse } from '@bufbuild/cel'
import { STEP_FUNCTION } from './library.js'

/** The parsed-expression node type (@bufbuild/cel-spec's Expr), named through the parser's signature. */
export type Expr = ReturnType<typeof parse>['expr']

/**
 * Load-time limits. @bufbuild/cel has no cost estimator (cel-go's is what the apiserver uses), so an
 * expression is bounded by its size instead: a config author's rule is a few dozen nodes; these leave
 * two orders of magnitude.
 */
export const LIMITS = {
  /** Characters in one expression. */
  maxExpressionLength: 5000,
  /** Nodes of the parsed expression, macros expanded. */
  maxNodes: 1000,
  /** Nesting of the parsed expression (the planner and evaluator recurse on it). */
  maxDepth: 48,
  /** Comprehensions (`all`, `exists`, `map`, `filter`, …) nested inside each other. */
  maxComprehensionNesting: 2,
  /**
   * Comprehension iterations in one evaluation (the runtime guard). A token of the default
   * `oidc.maxTokenBytes` (8 KiB) cannot carry a list of more than ~1,500 elements, so one pass over any
   * claim fits and a pass nested in a pass over a large claim does not (the token is then refused).
   * Measured worst case within the budget (test/unit/authn/cel.test.ts, `map` over 2,999 strings, whose
   * list concatenation is not O(1) in @bufbuild/cel): see docs/design.md. It is paid once per token: the
   * mapped identity is cached with the token.
   */
  maxIterations: 3_000,
} as const

/** The error an evaluation fails with when it ran out of iterations; the token is refused (401). */
export class CostLimitExceeded extends Error {
  constructor () {
    super(`expression exceeded ${LIMITS.maxIterations} comprehension iterations`)
    this.name = 'CostLimitExceeded'
  }
}

/**
 * The meter shared by all evaluations of one environment. Evaluation is synchronous, so one counter
 * reset before each evaluation is exact; `exceeded` stays set even when CEL's error absorption
 * (`err || true`) would hide the error from the result.
 */
export class IterationMeter {
  #remaining = 0
  #exceeded = false
  readonly func: CelFunc

  constructor () {
    this.func = celFunc(STEP_FUNCTION, [CelScalar.DYN], CelScalar.DYN, (v) => {
      if (--this.#remaining < 0) {
        this.#exceeded = true
        throw new CostLimitExceeded()
      }
      return v
    })
  }

  reset (): void {
    this.#remaining = LIMITS.maxIterations
    this.#exceeded = false
  }

  get exceeded (): boolean {
    return this.#exceeded
  }
}

/** Wraps every comprehension's loop condition in the step function, so each iteration is counted. */
export function meterComprehensions (expr: Expr, nextId: () => bigint): void {
  const k = expr.exprKind
  switch (k.case) {
    case 'selectExpr':
      if (k.value.operand !== undefined) meterComprehensions(k.value.operand, nextId)
      return
    case 'callExpr':
      if (k.value.target !== undefined) meterComprehensions(k.value.target, nextId)
      for (const a of k.value.args) meterComprehensions(a, nextId)
      return
    case 'listExpr':
      for (const e of k.value.elements) meterComprehensions(e, nextId)
      return
    case 'structExpr':
      for (const e of k.value.entries) {
        if (e.keyKind.case === 'mapKey') meterComprehensions(e.keyKind.value, nextId)
        if (e.value !== undefined) meterComprehensions(e.value, nextId)
      }
      return
    case 'comprehensionExpr': {
      const c = k.value
      for (const e of [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result]) if (e !== undefined) meterComprehensions(e, nextId)
      if (c.loopCondition !== undefined) c.loopCondition = wrapInStep(c.loopCondition, nextId())
      return
    }
    default:
  }
}

function wrapInStep (inner: Expr, id: bigint): Expr {
  return {
    $typeName: 'cel.expr.Expr',
    id,
    exprKind: { case: 'callExpr', value: { $typeName: 'cel.expr.Expr.Call', function: STEP_FUNCTION, args: [inner] } },
  } as unknown as Expr
}

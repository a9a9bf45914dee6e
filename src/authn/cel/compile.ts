// Compiles AuthenticationConfiguration CEL expressions once at load (parse, static check, limits, plan) into programs evaluated per token.
import { celEnv, CelScalar, isCelError, mapType, parse, plan, type CelValue } from '@bufbuild/cel'
import { CostLimitExceeded, IterationMeter, LIMITS, meterComprehensions, type Expr } from './cost.js'
import { StaticChecker, typeName, type StaticType } from './check.js'
import { authenticationFunctions } from './library.js'

/** The variable an expression sees: `claims` (claim rules and mappings) or `user` (user validation rules). */
export type CelVariable = 'claims' | 'user'

/** What the expression must evaluate to at compile time: a validation rule must be `bool`; a mapping anything. */
export type ExpectedType = 'bool' | 'any'

/** An evaluation that failed (no such key, wrong type, over the cost limit, …): the token is refused. */
export class CelEvaluationError extends Error {
  constructor (expression: string, cause: string) {
    super(`expression '${expression}' resulted in error: ${cause}`)
    this.name = 'CelEvaluationError'
  }
}

export interface CompiledExpression {
  readonly expression: string
  /** The checked AST (read by validation for the `claims.email` rule). */
  readonly ast: Expr
  readonly staticType: StaticType
  /** Evaluates with the variable bound; throws CelEvaluationError, never anything else. */
  evaluate: (value: ReadonlyMap<string, unknown>) => CelValue
}

/** A refused expression: `Required` for an empty one, `Invalid` with upstream's detail otherwise. */
export interface CompileProblem { readonly type: 'Required' | 'Invalid', readonly detail: string }

export type CompileOutcome = { readonly ok: true, readonly compiled: CompiledExpression } | { readonly ok: false, readonly problem: CompileProblem }

/** One compiler per configuration load: two environments (claims, user) sharing one iteration meter. */
export class CelCompiler {
  readonly #meter = new IterationMeter()
  readonly #functions = authenticationFunctions(this.#meter.func)
  readonly #env = celEnv({ funcs: this.#functions, variables: { claims: mapType(CelScalar.STRING, CelScalar.DYN), user: mapType(CelScalar.STRING, CelScalar.DYN) } })
  readonly #checkers: Record<CelVariable, StaticChecker> = {
    claims: new StaticChecker(this.#env.funcs, new Map([['claims', { k: 'map', v: { k: 'dyn' } }]])),
    user: new StaticChecker(this.#env.funcs, new Map([['user', { k: 'user' }]])),
  }

  compile (expression: string, variable: CelVariable, expected: ExpectedType): CompileOutcome {
    if (expression.trim() === '') return { ok: false, problem: { type: 'Required', detail: 'compilation failed: expression is empty' } }
    if (expression.length > LIMITS.maxExpressionLength) {
      return invalid(`compilation failed: expression is ${expression.length} characters long, more than the limit of ${LIMITS.maxExpressionLength}`)
    }
    let parsed: ReturnType<typeof parse>
    try {
      parsed = parse(expression)
    } catch (err) {
      return invalid('compilation failed: ' + (err instanceof Error ? err.message : String(err)))
    }
    const checked = this.#checkers[variable].check(parsed.expr)
    if (checked.errors.length > 0) return invalid('compilation failed: ' + checked.errors.join('; '))
    if (expected === 'bool' && checked.type.k !== 'bool') return invalid(`must evaluate to bool (it evaluates to ${typeName(checked.type)})`)
    let nextId = maxId(parsed.expr)
    meterComprehensions(parsed.expr, () => ++nextId)
    const program = plan(this.#env, parsed)
    const meter = this.#meter
    return {
      ok: true,
      compiled: {
        expression,
        ast: parsed.expr,
        staticType: checked.type,
        evaluate (value) {
          meter.reset()
          let result: CelValue | Error
          try {
            result = program({ [variable]: value } as never)
          } catch (err) {
            result = err instanceof Error ? err : new Error(String(err))
          }
          if (meter.exceeded) throw new CelEvaluationError(expression, new CostLimitExceeded().message)
          if (isCelError(result) || result instanceof Error) throw new CelEvaluationError(expression, result.message)
          return result
        },
      },
    }
  }
}

function invalid (detail: string): CompileOutcome {
  return { ok: false, problem: { type: 'Invalid', detail } }
}

function maxId (expr: Expr | undefined): bigint {
  if (expr === undefined) return 0n
  let max = expr.id
  const k = expr.exprKind
  const children: Array<Expr | undefined> = []
  if (k.case === 'selectExpr') children.push(k.value.operand)
  else if (k.case === 'callExpr') children.push(k.value.target, ...k.value.args)
  else if (k.case === 'listExpr') children.push(...k.value.elements)
  else if (k.case === 'structExpr') for (const e of k.value.entries) children.push(e.keyKind.case === 'mapKey' ? e.keyKind.value : undefined, e.value)
  else if (k.case === 'comprehensionExpr') children.push(k.value.iterRange, k.value.accuInit, k.value.loopCondition, k.value.loopStep, k.value.result)
  for (const c of children) {
    const m = maxId(c)
    if (m > max) max = m
  }
  return max
}

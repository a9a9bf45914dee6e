// A static check of a parsed CEL expression: undeclared names and functions, field selection on `user`, overloads and the result type, as cel-go's checker reports them at load.
import type { CelFunc, CelType } from '@bufbuild/cel'
import { LIMITS, type Expr } from './cost.js'
import { STEP_FUNCTION } from './library.js'

/** The coarse static type of an expression; `dyn` is anything (every claim is `dyn`, as upstream declares `claims` as map(string, dyn)). */
export type StaticType =
  | { readonly k: 'dyn' | 'bool' | 'int' | 'uint' | 'double' | 'string' | 'bytes' | 'null' | 'type' | 'timestamp' | 'duration' | 'user' }
  | { readonly k: 'list', readonly e: StaticType }
  | { readonly k: 'map', readonly v: StaticType }

const T = {
  dyn: { k: 'dyn' },
  bool: { k: 'bool' },
  int: { k: 'int' },
  uint: { k: 'uint' },
  double: { k: 'double' },
  string: { k: 'string' },
  bytes: { k: 'bytes' },
  null: { k: 'null' },
  type: { k: 'type' },
  user: { k: 'user' },
} as const satisfies Record<string, StaticType>

/** `kubernetes.UserInfo` as upstream declares it (pkg/authentication/cel/compile.go buildUserType). */
const USER_FIELDS: Readonly<Record<string, StaticType>> = {
  username: T.string,
  uid: T.string,
  groups: { k: 'list', e: T.string },
  extra: { k: 'map', v: { k: 'list', e: T.string } },
}

const TYPE_IDENTS = new Set(['int', 'uint', 'double', 'bool', 'string', 'bytes', 'list', 'map', 'null_type', 'type', 'dyn'])
const BOOL_OPERATORS = new Set(['_&&_', '_||_', '!_', '@not_strictly_false', 'not_strictly_false', '@in'])

export function typeName (t: StaticType): string {
  if (t.k === 'list') return `list(${typeName(t.e)})`
  if (t.k === 'map') return `map(string, ${typeName(t.v)})`
  if (t.k === 'user') return 'kubernetes.UserInfo'
  return t.k === 'null' ? 'null_type' : t.k
}

function join (a: StaticType, b: StaticType): StaticType {
  return typeName(a) === typeName(b) ? a : T.dyn
}

function fromCelType (t: CelType): StaticType {
  if (t.kind === 'list') return { k: 'list', e: fromCelType(t.element) }
  if (t.kind === 'map') return { k: 'map', v: fromCelType(t.value) }
  if (t.kind === 'object') {
    if (t.desc?.typeName === 'google.protobuf.Timestamp') return { k: 'timestamp' }
    if (t.desc?.typeName === 'google.protobuf.Duration') return { k: 'duration' }
    return T.dyn
  }
  const s = t.scalar
  return s === 'null_type' ? T.null : s === 'type' ? T.type : { k: s } as StaticType
}

/** Can a value of static type `have` be passed where the overload declares `want`? */
function accepts (want: CelType, have: StaticType): boolean {
  if (have.k === 'dyn' || (want.kind === 'scalar' && want.scalar === 'dyn')) return true
  if (want.kind === 'list') return have.k === 'list' && accepts(want.element, have.e)
  if (want.kind === 'map') return have.k === 'map' && accepts(want.value, have.v)
  return typeName(fromCelType(want)) === typeName(have)
}

export interface CheckResult {
  readonly type: StaticType
  readonly errors: readonly string[]
  readonly nodes: number
}

interface Scope { readonly vars: ReadonlyMap<string, StaticType>, readonly comprehensionDepth: number, readonly depth: number }

/** Checks one parsed expression against the declared variables and the registered functions. */
export class StaticChecker {
  readonly #functions: ReadonlyMap<string, readonly CelFunc[]>
  readonly #variables: ReadonlyMap<string, StaticType>
  #errors: string[] = []
  #nodes = 0

  constructor (functions: Iterable<CelFunc>, variables: ReadonlyMap<string, StaticType>) {
    const byName = new Map<string, CelFunc[]>()
    for (const f of functions) {
      const list = byName.get(f.name) ?? []
      list.push(f)
      byName.set(f.name, list)
    }
    this.#functions = byName
    this.#variables = variables
  }

  check (expr: Expr): CheckResult {
    this.#errors = []
    this.#nodes = 0
    const type = this.#walk(expr, { vars: this.#variables, comprehensionDepth: 0, depth: 0 })
    if (this.#nodes > LIMITS.maxNodes) this.#errors.push(`expression has ${this.#nodes} nodes, more than the limit of ${LIMITS.maxNodes}`)
    return { type, errors: [...new Set(this.#errors)], nodes: this.#nodes }
  }

  #walk (expr: Expr, scope: Scope): StaticType {
    this.#nodes++
    if (scope.depth > LIMITS.maxDepth) {
      this.#errors.push(`expression nests deeper than the limit of ${LIMITS.maxDepth}`)
      return T.dyn
    }
    const inner: Scope = { ...scope, depth: scope.depth + 1 }
    const k = expr.exprKind
    switch (k.case) {
      case 'constExpr': return this.#constant(k.value.constantKind.case)
      case 'identExpr': return this.#ident(k.value.name, scope)
      case 'selectExpr': return this.#select(k.value.operand, k.value.field, k.value.testOnly, inner)
      case 'callExpr': return this.#call(k.value.function, k.value.target, k.value.args, inner)
      case 'listExpr': {
        let e: StaticType | undefined
        for (const el of k.value.elements) {
          const t = this.#walk(el, inner)
          e = e === undefined ? t : join(e, t)
        }
        return { k: 'list', e: e ?? T.dyn }
      }
      case 'structExpr':
        if (k.value.messageName !== '') {
          this.#errors.push(`undeclared reference to '${k.value.messageName}'`)
          return T.dyn
        }
        for (const entry of k.value.entries) {
          if (entry.keyKind.case === 'mapKey') this.#walk(entry.keyKind.value, inner)
          if (entry.value !== undefined) this.#walk(entry.value, inner)
        }
        return { k: 'map', v: T.dyn }
      case 'comprehensionExpr': return this.#comprehension(k.value, inner)
      default:
        this.#errors.push('unsupported expression')
        return T.dyn
    }
  }

  #constant (kind: string | undefined): StaticType {
    switch (kind) {
      case 'boolValue': return T.bool
      case 'int64Value': return T.int
      case 'uint64Value': return T.uint
      case 'doubleValue': return T.double
      case 'stringValue': return T.string
      case 'bytesValue': return T.bytes
      case 'nullValue': return T.null
      default: return T.dyn
    }
  }

  #ident (name: string, scope: Scope): StaticType {
    const v = scope.vars.get(name)
    if (v !== undefined) return v
    if (TYPE_IDENTS.has(name)) return T.type
    this.#errors.push(`undeclared reference to '${name}'`)
    return T.dyn
  }

  #select (operand: Expr | undefined, field: string, testOnly: boolean, scope: Scope): StaticType {
    if (operand === undefined) return T.dyn
    const t = this.#walk(operand, scope)
    let result: StaticType = T.dyn
    if (t.k === 'user') {
      const f = USER_FIELDS[field]
      if (f === undefined) this.#errors.push(`undefined field '${field}'`)
      else result = f
    } else if (t.k === 'map') {
      result = t.v
    } else if (t.k !== 'dyn') {
      this.#errors.push(`type '${typeName(t)}' does not support field selection`)
    }
    return testOnly ? T.bool : result
  }

  #call (name: string, target: Expr | undefined, args: readonly Expr[], scope: Scope): StaticType {
    // `sets.contains(a, b)` parses as a call of `contains` on the identifier `sets`: a namespaced function.
    if (target?.exprKind.case === 'identExpr' && !scope.vars.has(target.exprKind.value.name)) {
      const qualified = `${target.exprKind.value.name}.${name}`
      if (this.#functions.has(qualified)) return this.#call(qualified, undefined, args, scope)
    }
    const targetType = target === undefined ? undefined : this.#walk(target, scope)
    const argTypes = args.map((a) => this.#walk(a, scope))
    if (BOOL_OPERATORS.has(name)) return T.bool
    if (name === '_?_:_') return join(argTypes[1] ?? T.dyn, argTypes[2] ?? T.dyn)
    if (name === '_[_]') return this.#index(argTypes[0] ?? T.dyn)
    if (name === STEP_FUNCTION) {
      this.#errors.push(`undeclared reference to '${name}'`)
      return T.dyn
    }
    const overloads = this.#functions.get(name)
    if (overloads === undefined) {
      this.#errors.push(`undeclared reference to '${name}'`)
      return T.dyn
    }
    const matching = overloads.filter((f) =>
      (f.target === undefined) === (targetType === undefined) &&
      (f.target === undefined || targetType === undefined || accepts(f.target, targetType)) &&
      f.arguments.length === argTypes.length &&
      f.arguments.every((a, i) => accepts(a, argTypes[i] as StaticType)))
    if (matching.length === 0) {
      const shown = (targetType === undefined ? '' : typeName(targetType) + '.') + '(' + argTypes.map(typeName).join(', ') + ')'
      this.#errors.push(`found no matching overload for '${name}' applied to '${shown}'`)
      return T.dyn
    }
    return matching.map((f) => fromCelType(f.result)).reduce(join)
  }

  #index (container: StaticType): StaticType {
    if (container.k === 'list') return container.e
    if (container.k === 'map') return container.v
    if (container.k !== 'dyn') this.#errors.push(`found no matching overload for '_[_]' applied to '${typeName(container)}'`)
    return T.dyn
  }

  #comprehension (c: Extract<Expr['exprKind'], { case: 'comprehensionExpr' }>['value'], scope: Scope): StaticType {
    if (scope.comprehensionDepth >= LIMITS.maxComprehensionNesting) {
      this.#errors.push(`comprehensions nest deeper than the limit of ${LIMITS.maxComprehensionNesting}`)
    }
    const range = c.iterRange === undefined ? T.dyn : this.#walk(c.iterRange, scope)
    const accu = c.accuInit === undefined ? T.dyn : this.#walk(c.accuInit, scope)
    const vars = new Map(scope.vars)
    const [first, second] = range.k === 'list' ? [T.int, range.e] : range.k === 'map' ? [T.string, range.v] : [T.dyn, T.dyn]
    if (c.iterVar2 === '') vars.set(c.iterVar, range.k === 'list' ? range.e : first)
    else {
      vars.set(c.iterVar, first)
      vars.set(c.iterVar2, second)
    }
    vars.set(c.accuVar, accu)
    const inner: Scope = { vars, comprehensionDepth: scope.comprehensionDepth + 1, depth: scope.depth }
    if (c.loopCondition !== undefined) this.#walk(c.loopCondition, inner)
    if (c.loopStep !== undefined) this.#walk(c.loopStep, inner)
    const resultScope: Scope = { ...scope, vars: new Map([...scope.vars, [c.accuVar, accu]]) }
    return c.result === undefined ? T.dyn : this.#walk(c.result, resultScope)
  }
}

/** Does the expression select `<operand>.<field>` anywhere (upstream validation.go hasSelectExp)? */
export function selectsField (expr: Expr | undefined, operand: string, field: string): boolean {
  if (expr === undefined) return false
  const k = expr.exprKind
  switch (k.case) {
    case 'selectExpr': {
      const op = k.value.operand
      if (op?.exprKind.case === 'identExpr' && op.exprKind.value.name === operand && k.value.field === field) return true
      return selectsField(op, operand, field)
    }
    case 'callExpr': return k.value.args.some((a) => selectsField(a, operand, field)) || selectsField(k.value.target, operand, field)
    case 'listExpr': return k.value.elements.some((e) => selectsField(e, operand, field))
    case 'structExpr':
      return k.value.entries.some((e) => (e.keyKind.case === 'mapKey' && selectsField(e.keyKind.value, operand, field)) || selectsField(e.value, operand, field))
    case 'comprehensionExpr': {
      const c = k.value
      return [c.iterRange, c.accuInit, c.loopCondition, c.loopStep, c.result].some((e) => selectsField(e, operand, field))
    }
    default: return false
  }
}

// The CEL functions kube-apiserver's authentication environment offers that @bufbuild/cel lacks: strings.reverse, the Kubernetes list library and the sets extension.
import { celFunc, celMethod, CelScalar, isCelList, isCelUint, listType, type CelFunc, type CelList, type CelValue } from '@bufbuild/cel'
import { strings } from '@bufbuild/cel/ext'

const DYN_LIST = listType(CelScalar.DYN)

/** Scalars compare by value; CEL's `==` on other values (lists, maps, messages) is not needed by these helpers. */
function sameScalar (a: CelValue, b: CelValue): boolean {
  if (isCelUint(a) && isCelUint(b)) return a.value === b.value
  if (typeof a === 'bigint' && typeof b === 'number') return Number(a) === b
  if (typeof a === 'number' && typeof b === 'bigint') return a === Number(b)
  return a === b
}

function scalarOrder (a: CelValue, b: CelValue): number {
  const x = isCelUint(a) ? a.value : a
  const y = isCelUint(b) ? b.value : b
  if ((typeof x === 'string' && typeof y === 'string') || (typeof x !== 'string' && typeof y !== 'string' && typeof x !== 'object' && typeof y !== 'object')) {
    return x < y ? -1 : x > y ? 1 : 0
  }
  throw new Error(`no such overload: ordering of ${typeof x} and ${typeof y}`)
}

function indexOf (list: CelList, v: CelValue): bigint {
  let i = 0
  for (const item of list) {
    if (sameScalar(item, v)) return BigInt(i)
    i++
  }
  return -1n
}

function extreme (list: CelList, sign: 1 | -1): CelValue {
  let best: CelValue | undefined
  for (const item of list) if (best === undefined || scalarOrder(item, best) * sign > 0) best = item
  if (best === undefined) throw new Error('min/max of an empty list')
  return best
}

function sum (list: CelList): bigint | number {
  let total: bigint | number | undefined
  for (const item of list) {
    if (typeof item === 'bigint' && (total === undefined || typeof total === 'bigint')) total = (total ?? 0n) + item
    else if (typeof item === 'number' && (total === undefined || typeof total === 'number')) total = (total ?? 0) + item
    else throw new Error('sum: list elements must all be int or all double')
  }
  return total ?? 0n
}

function isSorted (list: CelList): boolean {
  let prev: CelValue | undefined
  for (const item of list) {
    if (prev !== undefined && scalarOrder(prev, item) > 0) return false
    prev = item
  }
  return true
}

function contains (list: CelList, items: CelList): boolean {
  for (const v of items) if (indexOf(list, v) === -1n) return false
  return true
}

function asList (v: CelValue): CelList {
  if (!isCelList(v)) throw new Error('expected a list')
  return v
}

/** Kubernetes' list library (k8s.io/apiserver/pkg/cel/library/lists.go) on list(dyn). */
const lists: CelFunc[] = [
  celMethod('isSorted', DYN_LIST, [], CelScalar.BOOL, function () { return isSorted(asList(this)) }),
  celMethod('sum', DYN_LIST, [], CelScalar.DYN, function () { return sum(asList(this)) }),
  celMethod('min', DYN_LIST, [], CelScalar.DYN, function () { return extreme(asList(this), -1) }),
  celMethod('max', DYN_LIST, [], CelScalar.DYN, function () { return extreme(asList(this), 1) }),
  celMethod('indexOf', DYN_LIST, [CelScalar.DYN], CelScalar.INT, function (v) { return indexOf(asList(this), v) }),
  celMethod('lastIndexOf', DYN_LIST, [CelScalar.DYN], CelScalar.INT, function (v) {
    const items = [...asList(this)]
    for (let i = items.length - 1; i >= 0; i--) if (sameScalar(items[i] as CelValue, v)) return BigInt(i)
    return -1n
  }),
]

/** cel-go's sets extension (ext.Sets), which the Kubernetes base environment includes. */
const sets: CelFunc[] = [
  celFunc('sets.contains', [DYN_LIST, DYN_LIST], CelScalar.BOOL, (a, b) => contains(asList(a), asList(b))),
  celFunc('sets.equivalent', [DYN_LIST, DYN_LIST], CelScalar.BOOL, (a, b) => contains(asList(a), asList(b)) && contains(asList(b), asList(a))),
  celFunc('sets.intersects', [DYN_LIST, DYN_LIST], CelScalar.BOOL, (a, b) => {
    for (const v of asList(b)) if (indexOf(asList(a), v) !== -1n) return true
    return false
  }),
]

/** cel-go strings extension version 3 adds `reverse`; @bufbuild/cel's strings extension stops before it. */
const stringsV3: CelFunc[] = [
  celMethod('reverse', CelScalar.STRING, [], CelScalar.STRING, function () { return [...this].reverse().join('') }),
]

/** Name of the internal function that meters comprehension iterations (see cost.ts); refused in user expressions. */
export const STEP_FUNCTION = '__kubegate_step__'

/** Everything registered on top of @bufbuild/cel's standard library, the strings extension included. */
export function authenticationFunctions (step: CelFunc): CelFunc[] {
  return [...strings, ...stringsV3, ...lists, ...sets, step]
}

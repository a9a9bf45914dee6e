/**
 * A strict parser for the Prometheus text exposition format 0.0.4, for asserting on scrapes: every sample
 * must belong to a family declared by `# TYPE`, label values must be well-formed quoted strings, values
 * must be floats, and no series may appear twice. Throws with the offending line otherwise.
 */
export interface Sample { name: string, labels: Record<string, string>, value: number }
export interface Exposition {
  samples: Sample[]
  types: Map<string, string>
  help: Map<string, string>
  /** Sum of the samples named `name` whose labels include all of `labels` (0 when none). */
  value: (name: string, labels?: Record<string, string>) => number
  /** The samples named `name` whose labels include `labels`. */
  find: (name: string, labels?: Record<string, string>) => Sample[]
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseValue (s: string, line: string): number {
  // Prometheus parses values with Go's strconv.ParseFloat, which takes Inf/NaN in any case (prom-client
  // writes `Nan` for an empty event-loop histogram).
  const l = s.toLowerCase()
  if (l === '+inf' || l === 'inf') return Infinity
  if (l === '-inf') return -Infinity
  if (l === 'nan') return NaN
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value ${JSON.stringify(s)} in: ${line}`)
  return Number(s)
}

function family (name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length)
      const t = types.get(base)
      if (t === undefined) continue
      if ((suffix === '_bucket') && t !== 'histogram') continue
      return base
    }
  }
  return undefined
}

export function parseExposition (text: string): Exposition {
  const samples: Sample[] = []
  const types = new Map<string, string>()
  const help = new Map<string, string>()
  const seen = new Set<string>()
  if (text !== '' && !text.endsWith('\n')) throw new Error('exposition must end with a newline')
  for (const line of text.split('\n')) {
    if (line === '') continue
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
      if (m === null) continue // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string]
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`)
        if (types.has(name)) throw new Error(`TYPE twice for ${name}`)
        types.set(name, rest)
      } else {
        help.set(name, rest)
      }
      continue
    }
    let i = 0
    while (i < line.length && line[i] !== '{' && line[i] !== ' ') i++
    const name = line.slice(0, i)
    if (!NAME.test(name)) throw new Error(`bad sample name in: ${line}`)
    const labels: Record<string, string> = {}
    if (line[i] === '{') {
      i++
      while (line[i] !== '}') {
        const eq = line.indexOf('=', i)
        if (eq === -1) throw new Error(`bad labels in: ${line}`)
        const lname = line.slice(i, eq)
        if (!LABEL.test(lname)) throw new Error(`bad label name ${lname} in: ${line}`)
        if (line[eq + 1] !== '"') throw new Error(`unquoted label value in: ${line}`)
        let j = eq + 2
        let v = ''
        for (;;) {
          const c = line[j]
          if (c === undefined) throw new Error(`unterminated label value in: ${line}`)
          if (c === '\\') {
            const n = line[j + 1]
            if (n === 'n') v += '\n'
            else if (n === '\\' || n === '"') v += n
            else throw new Error(`bad escape in: ${line}`)
            j += 2
            continue
          }
          if (c === '"') break
          v += c
          j++
        }
        if (lname in labels) throw new Error(`label ${lname} twice in: ${line}`)
        labels[lname] = v
        i = j + 1
        if (line[i] === ',') i++
        else if (line[i] !== '}') throw new Error(`bad label separator in: ${line}`)
      }
      i++
    }
    if (line[i] !== ' ') throw new Error(`missing value in: ${line}`)
    const parts = line.slice(i + 1).split(' ')
    if (parts.length > 2) throw new Error(`trailing text in: ${line}`)
    const value = parseValue(parts[0] as string, line)
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`bad timestamp in: ${line}`)
    if (family(name, types) === undefined) throw new Error(`sample without a TYPE: ${line}`)
    const key = name + JSON.stringify(Object.entries(labels).sort())
    if (seen.has(key)) throw new Error(`series twice: ${line}`)
    seen.add(key)
    samples.push({ name, labels, value })
  }
  const find = (name: string, want: Record<string, string> = {}): Sample[] =>
    samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v))
  return {
    samples,
    types,
    help,
    find,
    value: (name, want = {}) => find(name, want).reduce((a, s) => a + s.value, 0),
  }
}

// Loads the configuration (YAML file, environment, flags) into one typed, frozen object, every problem reported at once with its path.
import { readFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { parseDocument } from 'yaml'
import { AuthenticationConfigError } from '../authn/field-error.js'
import { readAuthenticationConfiguration } from '../authn/load.js'
import { parseCidr } from '../server/client-address.js'
import { flattenSchema, isField, SCHEMA, type FieldSpec, type FlatField, type SectionSpec } from './schema.js'

export interface HostPort { readonly host: string, readonly port: number }

type ValueOf<F extends FieldSpec> =
  F['type'] extends 'string' ? string
    : F['type'] extends 'int' | 'duration' ? number
      : F['type'] extends 'bool' ? boolean
        : F['type'] extends 'list' ? readonly string[]
          : F['type'] extends 'map' ? Readonly<Record<string, string>>
            : F['type'] extends 'hostport' ? HostPort
              : never
type Optional<F extends FieldSpec> = F extends { required: true } | { default: unknown } | { type: 'map' } ? ValueOf<F> : ValueOf<F> | undefined
type ConfigOf<S> = { readonly [K in keyof S]: S[K] extends FieldSpec ? Optional<S[K]> : ConfigOf<S[K]> }

/** The typed, frozen configuration; its shape is derived from SCHEMA so the two cannot drift. */
export type Config = ConfigOf<typeof SCHEMA>

/** Thrown with every problem found, each as `path: problem`. */
export class ConfigError extends Error {
  readonly problems: readonly string[]
  constructor (problems: string[]) {
    super('invalid configuration:\n  ' + problems.join('\n  '))
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface LoadOptions {
  /** Command-line arguments after the command (flags only). */
  argv?: readonly string[]
  env?: Readonly<Record<string, string | undefined>>
  /** YAML text, instead of reading `--config`. */
  yamlText?: string
  /** Extra tree merged over the file (used by tests and the demo). */
  overrides?: Record<string, unknown>
}

const FIELDS = flattenSchema()
const BY_FLAG = new Map(FIELDS.map((f) => [f.flag, f]))
const BY_PATH = new Map(FIELDS.map((f) => [f.path, f]))

type Raw = Map<string, { value: unknown, source: string }>

/**
 * Builds the configuration from defaults < YAML file < environment < flags, and validates all of it,
 * reporting every problem at once with its path. Unknown keys and flags are errors, not warnings:
 * a misspelt security setting must not silently fall back to its default.
 */
export function loadConfig (options: LoadOptions = {}): Config {
  const problems: string[] = []
  const raw: Raw = new Map()
  const argv = options.argv ?? []
  const env = options.env ?? {}

  let configFile: string | undefined
  const flagValues: Array<[FlatField, string, string]> = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('--')) {
      problems.push(`${arg}: unexpected argument`)
      continue
    }
    const eq = arg.indexOf('=')
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq)
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1)
    const field = BY_FLAG.get(name)
    if (name === 'config') {
      if (value === undefined) value = argv[++i]
      if (value === undefined) problems.push('--config: needs a file path')
      else configFile = value
      continue
    }
    if (field === undefined) {
      problems.push(`--${name}: unknown flag`)
      if (value === undefined && argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--')) i++
      continue
    }
    if (value === undefined) {
      const next = argv[i + 1]
      if (field.spec.type === 'bool' && (next === undefined || next.startsWith('--'))) value = 'true'
      else if (next === undefined) {
        problems.push(`--${name}: needs a value`)
        continue
      } else {
        value = next
        i++
      }
    }
    flagValues.push([field, value, `--${name}`])
  }

  if (configFile === undefined) configFile = env.KUBEGATE_CONFIG
  let yamlText = options.yamlText
  if (yamlText === undefined && configFile !== undefined) {
    try {
      yamlText = readFileSync(configFile, 'utf8')
    } catch (err) {
      problems.push(`--config: cannot read ${configFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`)
    }
  }
  if (yamlText !== undefined) {
    const doc = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: false })
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(`${configFile ?? 'config'}: ${e.message.split('\n')[0] ?? ''}`)
    } else {
      const tree: unknown = doc.toJS()
      if (tree !== null && tree !== undefined) collectTree(tree, SCHEMA, [], raw, problems, 'file')
    }
  }
  if (options.overrides !== undefined) collectTree(options.overrides, SCHEMA, [], raw, problems, 'overrides')

  for (const f of FIELDS) {
    const v = env[f.env]
    if (v !== undefined && v !== '') raw.set(f.path, { value: parseFlagValue(f, v, problems, f.env, raw), source: f.env })
  }
  for (const [f, v, src] of flagValues) raw.set(f.path, { value: parseFlagValue(f, v, problems, src, raw), source: src })

  validateAuthenticationSource(raw, problems)
  const config = buildSection(SCHEMA, [], raw, problems)
  validateSemantics(config as unknown as Config, problems)
  if (problems.length > 0) throw new ConfigError(problems)
  return deepFreeze(config) as unknown as Config
}

/** The `oidc` settings that describe one issuer: an AuthenticationConfiguration file describes its issuers instead. */
export const ISSUER_KEYS = ['issuerUrl', 'clientId', 'caFile', 'usernameClaim', 'usernamePrefix', 'groupsClaim', 'groupsPrefix', 'uidClaim', 'signingAlgs', 'requiredClaims'] as const

/**
 * `--authentication-config` replaces the `--oidc-*` issuer flags: setting both is a start-up error, as in
 * kube-apiserver ("authentication-config file and oidc-* flags are mutually exclusive"). The other `oidc`
 * settings (clock skew, JWKS timing, token size, reserved identities, group cap) are kubegate's own and
 * apply to every issuer of the file.
 */
function validateAuthenticationSource (raw: Raw, problems: string[]): void {
  const file = raw.get('authentication.configFile')?.value
  if (file === undefined || file === null || file === '') {
    // Without the file, the flags describe the one issuer.
    for (const key of ['issuerUrl', 'clientId'] as const) {
      const v = raw.get(`oidc.${key}`)?.value
      if (v === undefined || v === null || v === '') problems.push(`oidc.${key}: required`)
    }
    return
  }
  // The file is validated here, with the rest of the configuration: its problems are listed with the
  // others and kubegate exits before listening; at reload a bad file refuses the reload the same way.
  if (typeof file === 'string') {
    try {
      readAuthenticationConfiguration(file)
    } catch (err) {
      if (!(err instanceof AuthenticationConfigError)) throw err
      for (const line of err.lines) problems.push(`authentication.configFile: ${line}`)
    }
  }
  for (const key of ISSUER_KEYS) {
    const entry = raw.get(`oidc.${key}`)
    if (entry === undefined || entry.value === undefined || entry.value === null) continue
    const flag = BY_PATH.get(`oidc.${key}`)?.flag ?? key
    problems.push(`authentication.configFile: cannot be combined with oidc.${key} (--${flag}, from ${entry.source}): the file describes the issuers`)
  }
}

function collectTree (node: unknown, spec: SectionSpec, path: string[], raw: Raw, problems: string[], source: string): void {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) {
    problems.push(`${path.join('.') || '(root)'}: must be a mapping`)
    return
  }
  for (const [key, value] of Object.entries(node)) {
    const child = spec[key]
    const p = [...path, key]
    if (child === undefined) {
      problems.push(`${p.join('.')}: unknown key`)
    } else if (isField(child)) {
      raw.set(p.join('.'), { value, source })
    } else if (value !== null) {
      collectTree(value, child, p, raw, problems, source)
    }
  }
}

/** Flags and environment variables are strings: turn them into the YAML-shaped value. */
function parseFlagValue (f: FlatField, v: string, problems: string[], src: string, raw: Raw): unknown {
  switch (f.spec.type) {
    case 'int': {
      if (!/^-?\d+$/.test(v)) {
        problems.push(`${f.path} (${src}): must be an integer`)
        return undefined
      }
      return Number(v)
    }
    case 'bool': {
      if (v === 'true' || v === '1') return true
      if (v === 'false' || v === '0') return false
      problems.push(`${f.path} (${src}): must be true or false`)
      return undefined
    }
    case 'list':
      return v.split(',').map((s) => s.trim()).filter((s) => s !== '')
    case 'map': {
      // Repeatable `key=value`; a flag adds to what earlier flags of the same name set.
      const prev = raw.get(f.path)
      const out: Record<string, unknown> = src.startsWith('--') && prev?.source === src && typeof prev.value === 'object'
        ? { ...(prev.value as Record<string, unknown>) }
        : {}
      for (const part of v.split(',')) {
        const eq = part.indexOf('=')
        if (eq <= 0) {
          problems.push(`${f.path} (${src}): expected key=value, got "${part}"`)
          continue
        }
        out[part.slice(0, eq).trim()] = part.slice(eq + 1)
      }
      return out
    }
    default:
      return v
  }
}

function buildSection (spec: SectionSpec, path: string[], raw: Raw, problems: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [key, child] of Object.entries(spec)) {
    const p = [...path, key]
    if (isField(child)) {
      const entry = raw.get(p.join('.'))
      const value = entry === undefined ? child.default : entry.value
      out[key] = coerce(p.join('.'), child, value, problems)
    } else {
      out[key] = buildSection(child, p, raw, problems)
    }
  }
  return out
}

function coerce (path: string, spec: FieldSpec, value: unknown, problems: string[]): unknown {
  if (value === undefined || value === null || value === '') {
    if (spec.required === true) problems.push(`${path}: required`)
    return spec.type === 'map' ? {} : undefined
  }
  switch (spec.type) {
    case 'string':
      if (typeof value !== 'string') {
        problems.push(`${path}: must be a string`)
        return undefined
      }
      if (spec.choices !== undefined && !spec.choices.includes(value)) {
        problems.push(`${path}: must be one of ${spec.choices.join(', ')}`)
      }
      return value
    case 'int':
    case 'duration':
      if (typeof value !== 'number' || !Number.isInteger(value)) {
        problems.push(`${path}: must be an integer`)
        return undefined
      }
      if (spec.min !== undefined && value < spec.min) problems.push(`${path}: must be at least ${spec.min}`)
      if (spec.max !== undefined && value > spec.max) problems.push(`${path}: must be at most ${spec.max}`)
      return value
    case 'bool':
      if (typeof value !== 'boolean') {
        problems.push(`${path}: must be true or false`)
        return undefined
      }
      return value
    case 'list': {
      const list = typeof value === 'string' ? [value] : value
      if (!Array.isArray(list) || !list.every((x) => typeof x === 'string' && x !== '')) {
        problems.push(`${path}: must be a list of non-empty strings`)
        return undefined
      }
      return [...list]
    }
    case 'map': {
      if (typeof value !== 'object' || Array.isArray(value)) {
        problems.push(`${path}: must be a mapping of strings`)
        return {}
      }
      const out: Record<string, string> = {}
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') problems.push(`${path}.${k}: must be a string`)
        else out[k] = v
      }
      return out
    }
    case 'hostport': {
      if (typeof value !== 'string') {
        problems.push(`${path}: must be host:port`)
        return undefined
      }
      const hp = parseHostPort(value)
      if (hp === undefined) problems.push(`${path}: must be host:port (IPv6 as [::1]:8443), got "${value}"`)
      return hp
    }
  }
}

export function parseHostPort (value: string): HostPort | undefined {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value)
  if (m === null) return undefined
  const host = m[1] ?? m[2] ?? ''
  const port = Number(m[3])
  if (port > 65535) return undefined
  if (m[1] !== undefined && isIP(m[1]) !== 6) return undefined
  return { host: host === '' ? '0.0.0.0' : host, port }
}

/** Algorithms kubegate can verify; `none` and HMAC are absent on purpose (a public key is no HMAC secret). */
export const SUPPORTED_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const

function validateSemantics (c: Config, problems: string[]): void {
  const issuer = c.oidc.issuerUrl
  if (typeof issuer === 'string' && issuer !== '') {
    let u: URL | undefined
    try {
      u = new URL(issuer)
    } catch {
      problems.push('oidc.issuerUrl: not a URL')
    }
    if (u !== undefined) {
      if (u.protocol !== 'https:') problems.push('oidc.issuerUrl: must use https')
      if (u.search !== '' || u.hash !== '') problems.push('oidc.issuerUrl: must not have a query or fragment')
      if (u.username !== '' || u.password !== '') problems.push('oidc.issuerUrl: must not contain credentials')
    }
  }
  if (typeof c.oidc.clientId === 'string' && c.oidc.clientId.trim() === '') problems.push('oidc.clientId: required')
  for (const alg of c.oidc.signingAlgs ?? []) {
    if (!(SUPPORTED_ALGS as readonly string[]).includes(alg)) {
      problems.push(`oidc.signingAlgs: "${alg}" is not allowed (supported: ${SUPPORTED_ALGS.join(', ')})`)
    }
  }
  if (c.oidc.signingAlgs?.length === 0) problems.push('oidc.signingAlgs: must not be empty')
  for (const key of ['usernamePrefix', 'groupsPrefix'] as const) {
    const v = c.oidc[key]
    if (v === undefined) continue
    if (v.toLowerCase().startsWith('system:')) problems.push(`oidc.${key}: must not start with "system:"`)
    // A prefix becomes part of every impersonated name: it must be a clean header value.
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u001f\u007f,]/.test(v) || v.trim() !== v) problems.push(`oidc.${key}: must not contain commas, control characters or outer spaces`)
  }
  for (const [k, v] of Object.entries(c.oidc.requiredClaims)) {
    if (k === '') problems.push('oidc.requiredClaims: empty claim name')
    if (v === '') problems.push(`oidc.requiredClaims.${k}: empty value`)
  }
  for (const cidr of c.server.trustedProxies ?? []) {
    if (parseCidr(cidr) === undefined) problems.push(`server.trustedProxies: "${cidr}" is not an address or CIDR`)
  }
  if ((c.tls.certFile === undefined) !== (c.tls.privateKeyFile === undefined)) {
    problems.push('tls: certFile and privateKeyFile go together')
  }
  validateSharedState(c, problems)
  const up = c.upstream
  if (up.server !== undefined && up.kubeconfig !== undefined) {
    problems.push('upstream: set either server or kubeconfig, not both')
  }
  if (up.server !== undefined) {
    try {
      const u = new URL(up.server)
      // The service-account token may only travel over verified TLS.
      if (u.protocol !== 'https:') problems.push('upstream.server: must use https')
      if (u.pathname !== '/' && u.pathname !== '') problems.push('upstream.server: must not have a path')
    } catch {
      problems.push('upstream.server: not a URL')
    }
    if (up.tokenFile === undefined) problems.push('upstream.tokenFile: required with upstream.server')
  }
  if (up.context !== undefined && up.kubeconfig === undefined) problems.push('upstream.context: needs upstream.kubeconfig')
  validateLogin(c, problems)
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost'])

function validateLogin (c: Config, problems: string[]): void {
  const login = c.login
  if (login.publicUrl === undefined) return
  try {
    const u = new URL(login.publicUrl)
    // Browsers carry the login cookie and the page carries a bearer token: plain http only on loopback.
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK_HOSTS.has(u.hostname))) {
      problems.push('login.publicUrl: must use https (http only on loopback)')
    }
    if (u.pathname !== '/' && u.pathname !== '') problems.push('login.publicUrl: must not have a path (kubegate serves /login and /callback at its root)')
    if (u.search !== '' || u.hash !== '') problems.push('login.publicUrl: must not have a query or fragment')
    if (u.username !== '' || u.password !== '') problems.push('login.publicUrl: must not contain credentials')
  } catch {
    problems.push('login.publicUrl: not a URL')
  }
  if (!(login.scopes ?? []).includes('openid')) problems.push('login.scopes: must include openid')
  if (login.includeClientSecret && login.clientSecretFile === undefined) problems.push('login.includeClientSecret: needs login.clientSecretFile')
}

function deepFreeze<T> (o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v)
    Object.freeze(o)
  }
  return o
}

export { BY_PATH as FIELDS_BY_PATH, FIELDS }

function validateSharedState (c: Config, problems: string[]): void {
  const st = c.store
  if (st.redisUrl !== undefined) {
    let u: URL | undefined
    try {
      u = new URL(st.redisUrl)
    } catch {
      problems.push('store.redisUrl: not a URL')
    }
    if (u !== undefined) {
      if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') problems.push('store.redisUrl: must be redis:// or rediss://')
      if (u.password !== '') problems.push('store.redisUrl: must not contain a password (use store.redisPasswordFile)')
      if (!/^\/?\d{0,2}$/.test(u.pathname)) problems.push('store.redisUrl: the path must be a database number')
    }
  }
  const sentinels = st.redisSentinels ?? []
  for (const s of sentinels) if (parseHostPort(s) === undefined) problems.push(`store.redisSentinels: "${s}" is not host:port`)
  if (sentinels.length > 0 && st.redisSentinelMaster === undefined) problems.push('store.redisSentinelMaster: required with redisSentinels')
  if (sentinels.length === 0 && st.redisSentinelMaster !== undefined) problems.push('store.redisSentinelMaster: needs redisSentinels')
  if (st.redisUrl === undefined && sentinels.length === 0) {
    for (const k of ['redisPasswordFile', 'redisCaFile'] as const) {
      if (st[k] !== undefined) problems.push(`store.${k}: needs store.redisUrl or store.redisSentinels`)
    }
  }
  if (c.admin.group !== undefined && c.admin.group.trim() !== c.admin.group) problems.push('admin.group: surrounding whitespace')
  const r = c.revocation
  if (r.maxStalenessSeconds <= r.resyncSeconds) problems.push('revocation.maxStalenessSeconds: must be greater than revocation.resyncSeconds')
}

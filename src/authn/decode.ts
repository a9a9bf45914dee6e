// Strict decoding of an AuthenticationConfiguration file (YAML or JSON): unknown or duplicate fields and wrong types are refused, as the apiserver's strict codec does.
import { parseDocument } from 'yaml'
import { fieldError, FieldPath, type FieldError } from './field-error.js'
import { API_GROUP, KIND, SUPPORTED_VERSIONS, type AuthenticationConfiguration } from './types.js'

/** The shape of each field: how a JSON/YAML value decodes into the Go struct field of the same name. */
type Shape = 'string' | 'bool' | 'optString' | { readonly list: Shape } | { readonly object: Readonly<Record<string, Shape>>, readonly optional?: true }

const PREFIXED: Shape = { object: { claim: 'string', prefix: 'optString', expression: 'string' } }

const JWT: Shape = {
  object: {
    issuer: {
      object: {
        url: 'string',
        discoveryURL: 'string',
        certificateAuthority: 'string',
        audiences: { list: 'string' },
        audienceMatchPolicy: 'string',
        egressSelectorType: 'string',
      },
    },
    claimValidationRules: { list: { object: { claim: 'string', requiredValue: 'string', expression: 'string', message: 'string' } } },
    claimMappings: {
      object: {
        username: PREFIXED,
        groups: PREFIXED,
        uid: { object: { claim: 'string', expression: 'string' } },
        extra: { list: { object: { key: 'string', valueExpression: 'string' } } },
      },
    },
    userValidationRules: { list: { object: { expression: 'string', message: 'string' } } },
  },
}

const ROOT: Shape = {
  object: {
    apiVersion: 'string',
    kind: 'string',
    jwt: { list: JWT },
    anonymous: { optional: true, object: { enabled: 'bool', conditions: { list: { object: { path: 'string' } } } } },
  },
}

/** What Go's encoding/json calls each JSON type in its "cannot unmarshal" errors. */
function jsonTypeName (v: unknown): string {
  if (Array.isArray(v)) return 'array'
  if (v === null) return 'null'
  return typeof v === 'object' ? 'object' : typeof v
}

function decodeValue (shape: Shape, value: unknown, path: FieldPath, errors: FieldError[]): unknown {
  if (shape === 'string' || shape === 'optString') {
    // encoding/json leaves a string field untouched for `null`.
    if (value === null || value === undefined) return shape === 'string' ? '' : undefined
    if (typeof value !== 'string') errors.push(fieldError('TypeInvalid', path, `cannot unmarshal ${jsonTypeName(value)} into a string`))
    return typeof value === 'string' ? value : ''
  }
  if (shape === 'bool') {
    if (value === null || value === undefined) return false
    if (typeof value !== 'boolean') errors.push(fieldError('TypeInvalid', path, `cannot unmarshal ${jsonTypeName(value)} into a bool`))
    return value === true
  }
  if ('list' in shape) {
    if (value === null || value === undefined) return []
    if (!Array.isArray(value)) {
      errors.push(fieldError('TypeInvalid', path, `cannot unmarshal ${jsonTypeName(value)} into a list`))
      return []
    }
    return value.map((item, i) => decodeValue(shape.list, item, path.index(i), errors))
  }
  if (value === null || value === undefined) {
    return shape.optional === true ? undefined : decodeObject(shape.object, {}, path, errors)
  }
  if (typeof value !== 'object' || Array.isArray(value)) {
    errors.push(fieldError('TypeInvalid', path, `cannot unmarshal ${jsonTypeName(value)} into an object`))
    return shape.optional === true ? undefined : decodeObject(shape.object, {}, path, errors)
  }
  return decodeObject(shape.object, value as Record<string, unknown>, path, errors)
}

function decodeObject (fields: Readonly<Record<string, Shape>>, value: Record<string, unknown>, path: FieldPath, errors: FieldError[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(value)) {
    // Field names are matched exactly: the strict codec refuses `URL` for `url` too (case-insensitive
    // matching is what makes a misspelt field "work" in lenient Go decoding).
    if (!Object.hasOwn(fields, key)) errors.push(fieldError('Forbidden', path.child(key), 'unknown field'))
  }
  for (const [key, shape] of Object.entries(fields)) out[key] = decodeValue(shape, value[key], path.child(key), errors)
  return out
}

/** Parses YAML (a superset of JSON) refusing duplicate keys; each syntax error is reported with its position. */
function parseTree (text: string, errors: FieldError[]): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, merge: false })
  for (const e of doc.errors) {
    // With prettyErrors the first line ends with "at line L, column C:"; the source excerpt below it is dropped.
    const first = (e.message.split('\n')[0] ?? '').replace(/:$/, '')
    errors.push(fieldError(e.code === 'DUPLICATE_KEY' ? 'Duplicate' : 'Invalid', FieldPath.root('(file)'), first))
  }
  return doc.errors.length > 0 ? undefined : doc.toJS({ maxAliasCount: 0 })
}

/** Checks `apiVersion` and `kind` as the apiserver's codec does before decoding anything. */
function checkTypeMeta (tree: Record<string, unknown>, errors: FieldError[]): boolean {
  const apiVersion = tree.apiVersion
  const kind = tree.kind
  const versions = SUPPORTED_VERSIONS.map((v) => `${API_GROUP}/${v}`)
  let ok = true
  if (typeof apiVersion !== 'string' || apiVersion === '') {
    errors.push(fieldError('Required', FieldPath.root('apiVersion'), `one of ${versions.join(', ')}`))
    ok = false
  } else if (!versions.includes(apiVersion)) {
    errors.push(fieldError('NotSupported', FieldPath.root('apiVersion'), `supported values: ${versions.join(', ')}`, apiVersion))
    ok = false
  }
  if (kind !== KIND) {
    errors.push(fieldError(kind === undefined ? 'Required' : 'NotSupported', FieldPath.root('kind'), `supported values: ${KIND}`, kind))
    ok = false
  }
  return ok
}

export function isUnknownField (e: FieldError): boolean {
  return e.type === 'Forbidden' && e.detail === 'unknown field'
}

/**
 * Decodes the file's text; `errors` are all problems found (empty = decoded). With only unknown fields,
 * `config` holds the known ones (the file is still refused).
 */
export function decodeAuthenticationConfiguration (text: string): { config: AuthenticationConfiguration | undefined, errors: FieldError[] } {
  const errors: FieldError[] = []
  const tree = parseTree(text, errors)
  if (errors.length > 0) return { config: undefined, errors }
  if (typeof tree !== 'object' || tree === null || Array.isArray(tree)) {
    errors.push(fieldError('TypeInvalid', FieldPath.root('(file)'), 'must be a mapping (an AuthenticationConfiguration object)'))
    return { config: undefined, errors }
  }
  if (!checkTypeMeta(tree as Record<string, unknown>, errors)) return { config: undefined, errors }
  const config = decodeValue(ROOT, tree, new FieldPath(''), errors) as unknown as AuthenticationConfiguration
  // Unknown fields leave the known ones intact: the caller may still validate them and report everything at
  // once. A wrong type leaves a zero value behind, which validation would misreport: no config then.
  return { config: errors.every(isUnknownField) ? config : undefined, errors }
}

// One validation problem with its field path, printed as kube-apiserver's field.Error prints it.

export type FieldErrorType = 'Required' | 'Invalid' | 'Duplicate' | 'TooMany' | 'Forbidden' | 'NotSupported' | 'TypeInvalid'

/** A field path as upstream writes it: `jwt[0].claimMappings.username.expression`. */
export class FieldPath {
  readonly #text: string
  constructor (text: string) {
    this.#text = text
  }

  static root (name: string): FieldPath {
    return new FieldPath(name)
  }

  child (...names: string[]): FieldPath {
    return new FieldPath([this.#text, ...names].filter((s) => s !== '').join('.'))
  }

  index (i: number): FieldPath {
    return new FieldPath(`${this.#text}[${i}]`)
  }

  toString (): string {
    return this.#text
  }
}

const LABEL: Record<FieldErrorType, string> = {
  Required: 'Required value',
  Invalid: 'Invalid value',
  Duplicate: 'Duplicate value',
  TooMany: 'Too many',
  Forbidden: 'Forbidden',
  NotSupported: 'Unsupported value',
  TypeInvalid: 'Invalid value',
}

export interface FieldError {
  readonly type: FieldErrorType
  readonly path: string
  /** The offending value as upstream shows it (omitted for Required/Forbidden, `<omitted>` for a CA). */
  readonly value?: unknown
  readonly detail: string
}

export function fieldError (type: FieldErrorType, path: FieldPath, detail: string, value?: unknown): FieldError {
  return value === undefined ? { type, path: path.toString(), detail } : { type, path: path.toString(), detail, value }
}

/** `jwt[0].issuer.url: Invalid value: "http://x": URL scheme must be https` (field.Error.Error()). */
export function formatFieldError (e: FieldError): string {
  let s = `${e.path}: ${LABEL[e.type]}`
  if (e.value !== undefined && e.type !== 'Required' && e.type !== 'Forbidden') s += ': ' + JSON.stringify(e.value)
  if (e.detail !== '') s += ': ' + e.detail
  return s
}

/** Thrown when an AuthenticationConfiguration is refused: every problem at once, each with its path. */
export class AuthenticationConfigError extends Error {
  readonly problems: readonly FieldError[]
  readonly source: string
  constructor (source: string, problems: readonly FieldError[]) {
    super(`invalid authentication configuration ${source}:\n  ` + problems.map(formatFieldError).join('\n  '))
    this.name = 'AuthenticationConfigError'
    this.source = source
    this.problems = problems
  }

  /** One line per problem, for logs and ConfigError. */
  get lines (): string[] {
    return this.problems.map(formatFieldError)
  }
}

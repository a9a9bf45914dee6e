// Reads, decodes, validates and compiles an AuthenticationConfiguration file: the one entry point for start-up and reload.
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { CompiledJwtAuthenticator } from './compiled.js'
import { decodeAuthenticationConfiguration } from './decode.js'
import { AuthenticationConfigError, fieldError, FieldPath } from './field-error.js'
import { CONFIG_FILE_SIGNING_ALGS, type AuthenticationConfiguration } from './types.js'
import { validateAuthenticationConfiguration, type ValidationOptions } from './validate.js'

/** A configuration ready to build authenticators from: every expression compiled, every rule checked. */
export interface LoadedAuthentication {
  /** Where it came from: the file path, or `--oidc-* flags`. */
  readonly source: string
  readonly configuration: AuthenticationConfiguration
  readonly authenticators: readonly CompiledJwtAuthenticator[]
  /** Algorithms accepted from every issuer (the file has no field for it; the flags have --oidc-signing-algs). */
  readonly signingAlgs: readonly string[]
  /** SHA-256 of the source text: equal fingerprints mean a reload changes nothing. */
  readonly fingerprint: string
}

/** Validates and compiles a decoded configuration; throws AuthenticationConfigError with every problem. */
export function compileAuthentication (source: string, configuration: AuthenticationConfiguration, signingAlgs: readonly string[], fingerprint: string, options?: ValidationOptions): LoadedAuthentication {
  const { errors, authenticators } = validateAuthenticationConfiguration(configuration, options)
  if (errors.length > 0) throw new AuthenticationConfigError(source, errors)
  return Object.freeze({ source, configuration, authenticators: Object.freeze([...authenticators]), signingAlgs, fingerprint })
}

/** Decodes (strictly) and compiles the text of an AuthenticationConfiguration file. */
export function parseAuthenticationConfiguration (text: string, source: string, options?: ValidationOptions): LoadedAuthentication {
  const { config, errors } = decodeAuthenticationConfiguration(text)
  if (config === undefined) throw new AuthenticationConfigError(source, errors)
  if (errors.length > 0) {
    // Strict decoding refused unknown fields; the known ones are validated too, so every problem shows at once.
    throw new AuthenticationConfigError(source, [...errors, ...validateAuthenticationConfiguration(config, options).errors])
  }
  const fingerprint = createHash('sha256').update(text).digest('base64url')
  return compileAuthentication(source, config, CONFIG_FILE_SIGNING_ALGS, fingerprint, options)
}

/** Reads the file given with `--authentication-config` and loads it; an unreadable file is one more problem. */
export function readAuthenticationConfiguration (path: string, options?: ValidationOptions): LoadedAuthentication {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err)
    throw new AuthenticationConfigError(path, [fieldError('Invalid', FieldPath.root('(file)'), `cannot read: ${code}`)])
  }
  return parseAuthenticationConfiguration(text, path, options)
}

// Builders for AuthenticationConfiguration test inputs: a valid base file and loaders returning formatted problems.
import { stringify } from 'yaml'
import { AuthenticationConfigError } from '../../../src/authn/field-error.js'
import { parseAuthenticationConfiguration, type LoadedAuthentication } from '../../../src/authn/load.js'

export const ISSUER = 'https://issuer.example.com'

/** One jwt[] entry; `patch` fields replace the base ones (shallow, per top-level key). */
export function jwt (patch: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    issuer: { url: ISSUER, audiences: ['kubegate'] },
    claimMappings: { username: { claim: 'sub', prefix: 'oidc:' } },
    ...patch,
  }
}

export function file (jwts: unknown[], extra: Record<string, unknown> = {}): string {
  return stringify({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AuthenticationConfiguration', jwt: jwts, ...extra })
}

/** Loads the text; returns the problems as printed (empty when it loads). */
export function problems (text: string): string[] {
  try {
    parseAuthenticationConfiguration(text, 'test.yaml')
    return []
  } catch (err) {
    if (err instanceof AuthenticationConfigError) return err.lines
    throw err
  }
}

export function load (text: string): LoadedAuthentication {
  return parseAuthenticationConfiguration(text, 'test.yaml')
}

// The issuers of a kubegate configuration: the AuthenticationConfiguration file when one is set, else the `--oidc-*` flags as one authenticator.
import { readFileSync } from 'node:fs'
import type { Config } from '../config/load.js'
import { authenticationFromFlags } from './from-flags.js'
import { readAuthenticationConfiguration, type LoadedAuthentication } from './load.js'

/** Loads (and validates, compiles) the issuers; throws AuthenticationConfigError for a bad file. */
export function loadAuthentication (config: Config): LoadedAuthentication {
  const file = config.authentication.configFile
  if (file !== undefined) return readAuthenticationConfiguration(file)
  const { issuerUrl, clientId } = config.oidc
  // loadConfig requires both when there is no file.
  if (issuerUrl === undefined || clientId === undefined) throw new Error('oidc.issuerUrl and oidc.clientId are required without authentication.configFile')
  const ca = config.oidc.caFile === undefined ? undefined : readFileSync(config.oidc.caFile, 'utf8')
  return authenticationFromFlags({ ...config.oidc, issuerUrl, clientId }, ca)
}

/** The issuer the login page signs people in with: the flags' issuer, or the file's first (its first audience is the client id). */
export function loginIssuer (auth: LoadedAuthentication): { readonly issuerUrl: string, readonly clientId: string, readonly caPem: string | undefined } | undefined {
  const first = auth.authenticators[0]?.config.issuer
  if (first === undefined) return undefined
  return { issuerUrl: first.url, clientId: first.audiences[0] ?? '', caPem: first.certificateAuthority === '' ? undefined : first.certificateAuthority }
}

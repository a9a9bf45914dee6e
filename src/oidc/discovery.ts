// OpenID Connect discovery for one issuer: fetch the document, check its issuer, return the JWKS URI.
import type { FetchJson } from './http-client.js'

/** The discovery document's URL: `discoveryUrl` when given, else `<issuer>/.well-known/openid-configuration`. */
export function discoveryDocumentUrl (issuerUrl: string, discoveryUrl?: string): string {
  return discoveryUrl ?? issuerUrl.replace(/\/$/, '') + '/.well-known/openid-configuration'
}

/**
 * Fetches the discovery document and returns its `jwks_uri`. OIDC Discovery §4.3: the document's `issuer`
 * must be identical to the configured one (also when it was fetched from a separate discovery URL, as the
 * apiserver's `discoveryURL` requires); the key set must be served over https.
 */
export async function discoverJwksUri (fetchJson: FetchJson, issuerUrl: string, discoveryUrl?: string): Promise<string> {
  const res = await fetchJson(discoveryDocumentUrl(issuerUrl, discoveryUrl))
  const doc = res.body as Record<string, unknown> | null
  if (typeof doc !== 'object' || doc === null || doc.issuer !== issuerUrl) {
    throw new Error(`discovery issuer ${JSON.stringify(doc?.issuer)} does not match the configured issuer`)
  }
  const jwksUri = doc.jwks_uri
  if (typeof jwksUri !== 'string' || !jwksUri.startsWith('https://')) throw new Error('discovery jwks_uri missing or not https')
  return jwksUri
}

/** Back-off between discovery attempts: 0.5 s doubling, at most 30 s. */
export function discoveryRetryDelayMs (attempt: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(attempt, 6))
}

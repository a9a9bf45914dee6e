// Which authenticator a bearer token is for, decided as the apiserver routes JWTs: by the unverified `iss` claim.

/**
 * The `iss` of a compact JWS, read WITHOUT verifying anything: only to choose who verifies the token.
 * undefined for anything that is not three base64url segments with a JSON object payload carrying a
 * string `iss` (opaque tokens, garbage).
 */
export function unverifiedIssuer (token: string): string | undefined {
  const claims = unverifiedClaims(token)
  return typeof claims?.iss === 'string' ? claims.iss : undefined
}

/** The payload of a compact JWS as JSON, unverified; undefined when it is not one. */
export function unverifiedClaims (token: string): Record<string, unknown> | undefined {
  const first = token.indexOf('.')
  const second = first === -1 ? -1 : token.indexOf('.', first + 1)
  if (first <= 0 || second === -1 || token.indexOf('.', second + 1) !== -1) return undefined
  const payload = token.slice(first + 1, second)
  if (payload === '' || !/^[A-Za-z0-9_-]+$/.test(payload)) return undefined
  try {
    const v: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Record<string, unknown> : undefined
  } catch {
    return undefined
  }
}

/** True when a configured OIDC issuer is the one to verify this token (kubegate's own verification path). */
export type IssuerRoute = (token: string) => boolean

/**
 * The route for one configured issuer: the token's unverified `iss` equals its URL exactly (the apiserver
 * compares byte for byte, as the verifier does). A route over several issuers replaces this one.
 */
export function singleIssuerRoute (issuerUrl: string): IssuerRoute {
  return (token) => unverifiedIssuer(token) === issuerUrl
}

// Picks the JWT authenticator for a token by its unverified `iss`, exactly as kube-apiserver's union of JWT authenticators does.

/**
 * The `iss` of a compact JWT, NOT verified: only for choosing which issuer's keys verify the token
 * (upstream untrustedIssuer). Malformed tokens have none. `accounts.google.com` is read as
 * `https://accounts.google.com`, as upstream does for Google's legacy issuer.
 */
export function untrustedIssuer (token: string): string | undefined {
  if (token.trimStart().startsWith('{')) return undefined
  const parts = token.split('.')
  if (parts.length !== 3) return undefined
  const payload = parts[1] as string
  // Go's RawURLEncoding: no padding, URL alphabet only (Buffer would silently skip other characters).
  if (!/^[A-Za-z0-9_-]*$/.test(payload) || payload.length % 4 === 1) return undefined
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'))
  } catch {
    return undefined
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined
  const iss = (claims as { iss?: unknown }).iss
  if (iss === undefined || iss === null) return ''
  if (typeof iss !== 'string') return undefined
  return iss === 'accounts.google.com' ? 'https://accounts.google.com' : iss
}

/** Issuer URL -> its authenticator. Exact string match: no trailing-slash or case folding, as upstream. */
export class IssuerRouter<T> {
  readonly #byIssuer: ReadonlyMap<string, T>

  constructor (entries: Iterable<readonly [string, T]>) {
    this.#byIssuer = new Map(entries)
  }

  /** The authenticator for this token's unverified issuer; undefined = no configured issuer (401, or TokenReview). */
  route (token: string): T | undefined {
    const iss = untrustedIssuer(token)
    return iss === undefined ? undefined : this.#byIssuer.get(iss)
  }

  hasIssuer (iss: string): boolean {
    return this.#byIssuer.has(iss)
  }

  get (iss: string): T | undefined {
    return this.#byIssuer.get(iss)
  }

  get issuers (): string[] {
    return [...this.#byIssuer.keys()]
  }

  entries (): IterableIterator<[string, T]> {
    return this.#byIssuer.entries()
  }
}

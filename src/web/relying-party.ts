// The OpenID Connect relying party the login flow uses (openid-client): authorization URL, code exchange with PKCE.
import * as oidc from 'openid-client'
import { Agent, fetch as undiciFetch } from 'undici'

/** What the login flow needs from an OpenID Connect relying party; openid-client in production. */
export interface RelyingParty {
  /** The issuer's authorization endpoint URL with these request parameters. */
  authorizationUrl: (params: AuthorizationParams) => Promise<URL>
  /**
   * Validates the authorization response in `callbackUrl` (state, `iss`, errors) and redeems the code at
   * the token endpoint with the PKCE verifier; checks the ID token's nonce. Resolves with the raw ID token.
   */
  exchange: (callbackUrl: URL, checks: ExchangeChecks) => Promise<string>
  close: () => Promise<void>
}

export interface AuthorizationParams {
  readonly state: string
  readonly nonce: string
  readonly codeChallenge: string
}

export interface ExchangeChecks {
  readonly state: string
  readonly nonce: string
  readonly codeVerifier: string
}

export interface OpenIdRelyingPartyOptions {
  readonly issuerUrl: string
  readonly clientId: string
  readonly clientSecret?: string | undefined
  /** `<publicUrl>/callback`. */
  readonly redirectUri: string
  readonly scopes: readonly string[]
  /** PEM CA bundle for the issuer (oidc.caFile); system roots when absent. */
  readonly ca?: string | undefined
  readonly timeoutSeconds?: number
  /** After a failed discovery, the next attempt waits at least this long (a dead issuer is not hammered). */
  readonly retryAfterMs?: number
  readonly now?: () => number
}

/** Raised when discovery has not succeeded (the page answers 503). */
export class IssuerUnavailableError extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'IssuerUnavailableError'
  }
}

/**
 * The authorization-code flow through openid-client 6 (a certified relying party, built on jose), over
 * undici with the issuer's CA (openid-client's `customFetch` hook). Discovery is lazy and retried, so an
 * issuer that is down at start-up delays the login page, not the proxy.
 *
 * openid-client validates the authorization response (`state`, RFC 9207 `iss`), redeems the code with the
 * client secret (HTTP Basic, the OAuth default that Dex accepts) and checks the ID token's `iss`, `aud`,
 * `exp`, `iat` and `nonce`. The caller still runs the token through kubegate's own verifier.
 */
export function createOpenIdRelyingParty (options: OpenIdRelyingPartyOptions): RelyingParty {
  const now = options.now ?? Date.now
  const timeoutSeconds = options.timeoutSeconds ?? 10
  const retryAfterMs = options.retryAfterMs ?? 5_000
  const agent = new Agent({
    connect: { ca: options.ca, rejectUnauthorized: true, timeout: timeoutSeconds * 1000 },
    headersTimeout: timeoutSeconds * 1000,
    bodyTimeout: timeoutSeconds * 1000,
    connections: 4,
  })
  const customFetch: oidc.CustomFetch = (url, init) =>
    // openid-client passes `redirect: 'manual'`: a redirected token request is an error, never followed.
    undiciFetch(url, { ...init, dispatcher: agent } as Parameters<typeof undiciFetch>[1]) as unknown as Promise<Response>
  const clientAuth = options.clientSecret === undefined ? oidc.None() : oidc.ClientSecretBasic(options.clientSecret)
  let pending: Promise<oidc.Configuration> | undefined
  let failedAt = 0
  let lastError: unknown

  function configuration (): Promise<oidc.Configuration> {
    if (pending !== undefined) return pending
    if (failedAt !== 0 && now() - failedAt < retryAfterMs) {
      return Promise.reject(new IssuerUnavailableError('issuer discovery failed recently', { cause: lastError }))
    }
    const p = oidc.discovery(new URL(options.issuerUrl), options.clientId, undefined, clientAuth, {
      [oidc.customFetch]: customFetch,
      timeout: timeoutSeconds,
    })
    pending = p.catch((err: unknown) => {
      pending = undefined
      failedAt = now()
      lastError = err
      throw new IssuerUnavailableError(`issuer discovery failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    })
    return pending
  }

  return {
    async authorizationUrl (params) {
      const config = await configuration()
      return oidc.buildAuthorizationUrl(config, {
        redirect_uri: options.redirectUri,
        scope: options.scopes.join(' '),
        response_type: 'code',
        state: params.state,
        nonce: params.nonce,
        code_challenge: params.codeChallenge,
        code_challenge_method: 'S256',
      })
    },
    async exchange (callbackUrl, checks) {
      const config = await configuration()
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        pkceCodeVerifier: checks.codeVerifier,
        idTokenExpected: true,
      })
      if (typeof tokens.id_token !== 'string') throw new Error('token response without id_token')
      return tokens.id_token
    },
    close: () => agent.close(),
  }
}

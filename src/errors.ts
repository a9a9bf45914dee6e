/**
 * The closed list of kubegate's own failures. Each code maps to an HTTP status, a Kubernetes `StatusReason`
 * and a fixed public message. Public messages never contain request data: the detail (jose/crypto code,
 * claim name, errno) travels in `detail`/`cause` and reaches the log only.
 */
export const ERRORS = {
  KG_ERR_NO_TOKEN: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  KG_ERR_BAD_TOKEN: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  KG_ERR_TOKEN_EXPIRED: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  KG_ERR_BAD_CLAIMS: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  KG_ERR_RESERVED_IDENTITY: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  // The apiserver's WebSocket protocol authenticator fails these requests: 401, as any other failed token.
  KG_ERR_BAD_SUBPROTOCOL: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
  KG_ERR_REVOKED: { status: 401, reason: 'Unauthorized', message: 'Unauthorized: the credentials were revoked' },
  KG_ERR_IDENTITY_HEADERS: {
    status: 403,
    reason: 'Forbidden',
    message: 'impersonation and remote-user headers are not accepted through kubegate',
  },
  KG_ERR_FORBIDDEN: { status: 403, reason: 'Forbidden', message: 'forbidden' },
  KG_ERR_BAD_REQUEST: { status: 400, reason: 'BadRequest', message: 'bad request' },
  KG_ERR_DUPLICATE_AUTHORIZATION: {
    status: 400,
    reason: 'BadRequest',
    message: 'more than one Authorization header',
  },
  KG_ERR_CREDENTIALS_IN_QUERY: {
    status: 400,
    reason: 'BadRequest',
    message: 'credentials in the query string are not accepted',
  },
  KG_ERR_BAD_TARGET: { status: 400, reason: 'BadRequest', message: 'the request target must be an absolute path' },
  KG_ERR_UPGRADE_UNSUPPORTED: {
    status: 400,
    reason: 'BadRequest',
    message: 'only websocket and SPDY/3.1 upgrades are supported',
  },
  KG_ERR_HTTP_VERSION: { status: 505, reason: 'BadRequest', message: 'only HTTP/1.0 and HTTP/1.1 are supported' },
  KG_ERR_METHOD_NOT_ALLOWED: { status: 405, reason: 'MethodNotAllowed', message: 'method not allowed' },
  KG_ERR_NOT_FOUND: { status: 404, reason: 'NotFound', message: 'not found' },
  KG_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    reason: 'RequestHeaderFieldsTooLarge',
    message: 'request header fields too large',
  },
  KG_ERR_RATE_LIMITED: { status: 429, reason: 'TooManyRequests', message: 'too many requests, please retry later' },
  KG_ERR_TOO_MANY_STREAMS: {
    status: 429,
    reason: 'TooManyRequests',
    message: 'too many concurrent long-running requests for this user',
  },
  KG_ERR_VERIFIER_BUSY: {
    status: 503,
    reason: 'ServiceUnavailable',
    message: 'token verification is overloaded, please retry',
  },
  KG_ERR_ISSUER_UNAVAILABLE: {
    status: 503,
    reason: 'ServiceUnavailable',
    message: 'the OIDC issuer is unavailable, please retry',
  },
  KG_ERR_UPSTREAM_UNAVAILABLE: {
    status: 502,
    reason: 'ServiceUnavailable',
    message: 'the Kubernetes API server is unreachable',
  },
  KG_ERR_UPSTREAM_TIMEOUT: { status: 504, reason: 'Timeout', message: 'the Kubernetes API server did not answer in time' },
  KG_ERR_STATE_UNAVAILABLE: {
    status: 503,
    reason: 'ServiceUnavailable',
    message: 'the revocation list cannot be confirmed, please retry later',
  },
  KG_ERR_SHUTTING_DOWN: { status: 503, reason: 'ServiceUnavailable', message: 'kubegate is shutting down' },
  KG_ERR_INTERNAL: { status: 500, reason: 'InternalError', message: 'internal error' },
  // Nested impersonation (src/impersonation/decide.ts): the two apiserver answers carry its own message text.
  KG_ERR_IMPERSONATION_FORBIDDEN: { status: 403, reason: 'Forbidden', message: 'forbidden' },
  KG_ERR_IMPERSONATION_INVALID: { status: 500, reason: 'InternalError', message: 'Internal error occurred' },
  KG_ERR_REVIEW_UNAVAILABLE: {
    status: 503,
    reason: 'ServiceUnavailable',
    message: 'the Kubernetes API server could not be asked to review this request, please retry',
  },
  KG_ERR_REVIEW_NOT_PERMITTED: {
    status: 500,
    reason: 'InternalError',
    message: 'kubegate may not create the review it needs for this request: see the RBAC section of its README',
  },
} as const

export type ErrorCode = keyof typeof ERRORS

/** The `details` of a Kubernetes Status (what the apiserver puts there for a Forbidden). */
export interface StatusDetails {
  readonly name?: string
  readonly group?: string
  readonly kind?: string
}

export interface KubegateErrorOptions {
  cause?: unknown
  retryAfter?: number
  failure?: string
  /**
   * A public message instead of the code's fixed one: only for the answers the apiserver itself would give
   * with request data in them (a denied impersonation names the requested user), never for anything else.
   */
  message?: string
  details?: StatusDetails
}

/** A failure kubegate answers itself. `detail` is for the log, never for the client. */
export class KubegateError extends Error {
  readonly code: ErrorCode
  readonly statusCode: number
  readonly reason: string
  readonly detail: string | undefined
  /** Seconds, for 429/503 answers. */
  retryAfter: number | undefined
  /** Stable machine-readable cause for metrics labels and logs (`expired`, `bad_signature`, ...). */
  readonly failure: string | undefined
  /** Set only when the public message is not the code's fixed one (see KubegateErrorOptions.message). */
  readonly publicMessage: string | undefined
  readonly details: StatusDetails | undefined

  constructor (code: ErrorCode, detail?: string, options?: KubegateErrorOptions) {
    super(options?.message ?? ERRORS[code].message, options?.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'KubegateError'
    this.code = code
    this.statusCode = ERRORS[code].status
    this.reason = ERRORS[code].reason
    this.detail = detail
    this.retryAfter = options?.retryAfter
    this.failure = options?.failure
    this.publicMessage = options?.message
    this.details = options?.details
  }
}

export function isKubegateError (err: unknown): err is KubegateError {
  return err instanceof KubegateError
}

/** Any thrown value as a KubegateError: unknown errors become KG_ERR_INTERNAL with the original as cause. */
export function toKubegateError (err: unknown): KubegateError {
  if (err instanceof KubegateError) return err
  return new KubegateError('KG_ERR_INTERNAL', err instanceof Error ? err.message : String(err), { cause: err })
}

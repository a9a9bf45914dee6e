// The authorization-code login flow (PKCE, state, nonce, browser binding) and how its failures are classified.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import type { Authenticator } from '../auth/authenticator.js'
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'
import type { Language } from './i18n.js'
import { IssuerUnavailableError, type RelyingParty } from './relying-party.js'
import type { LoginStateStore } from './state-store.js'

/** Why a login did not complete. Stable strings: they go to logs, and pick the page's message. */
export type LoginFailure =
  | 'bad_request' // no or malformed state on /callback
  | 'unknown_state' // expired, already used (replay), or never issued here
  | 'foreign_state' // the browser does not hold the cookie bound to this state
  | 'provider_error' // the issuer answered with ?error= (e.g. the user declined)
  | 'exchange_failed' // code redemption or openid-client's response checks failed
  | 'bad_nonce' // the ID token's nonce is not the one this login sent
  | 'not_allowed' // kubegate's own verifier or claim mapping refused the token (a final verdict about it)
  | 'issuer_unavailable' // discovery or the token endpoint cannot be reached
  | 'try_again' // temporary: the issuer's keys cannot be fetched or do not hold the token's key yet, or verification is busy

const STATUS: Record<LoginFailure, number> = {
  bad_request: 400,
  unknown_state: 400,
  foreign_state: 400,
  provider_error: 400,
  exchange_failed: 502,
  bad_nonce: 400,
  not_allowed: 403,
  issuer_unavailable: 503,
  try_again: 503,
}

export class LoginError extends Error {
  readonly failure: LoginFailure
  readonly statusCode: number
  /** For the log only. */
  readonly detail: string | undefined
  constructor (failure: LoginFailure, detail?: string, options?: { cause?: unknown }) {
    super(failure, options)
    this.name = 'LoginError'
    this.failure = failure
    this.statusCode = STATUS[failure]
    this.detail = detail
  }
}

/** A started login: where to send the browser, and the cookie that binds this browser to the state. */
export interface StartedLogin {
  readonly authorizationUrl: URL
  readonly state: string
  readonly cookieName: string
  readonly cookieValue: string
}

/** A completed login: exactly what the proxy will see when this ID token is presented. */
export interface CompletedLogin {
  readonly identity: Identity
  readonly idToken: string
  /** `name` claim (display only). */
  readonly name: string | undefined
  /** `email` claim, when a string. */
  readonly email: string | undefined
  readonly lang: Language | undefined
}

export interface LoginFlowOptions {
  readonly relyingParty: RelyingParty
  /** kubegate's authenticator: the same verifier, claim mapping and cache as the proxy path. */
  readonly authenticator: Pick<Authenticator, 'authenticate'>
  readonly store: LoginStateStore
  /** `<publicUrl>/callback`; the callback URL handed to the relying party is rebuilt on it, never on Host. */
  readonly redirectUri: string
  readonly stateTtlSeconds: number
  /** Cookie names start with this (`__Host-` on https, so no subdomain can plant one). */
  readonly cookiePrefix: string
  /**
   * Refetches the issuer's keys now, ignoring the unknown-kid cooldown; resolves whether the fetch succeeded.
   * Called when the ID token, which came straight from the issuer's token endpoint over verified TLS, names a
   * key kubegate does not hold: the issuer has rotated. Without it such a login answers `try_again`.
   */
  readonly refreshKeys?: (() => Promise<boolean>) | undefined
}

export interface LoginFlow {
  begin: (lang?: Language) => Promise<StartedLogin>
  /**
   * Completes the login for the query string of `/callback` and the cookies the browser sent. Throws
   * LoginError. A state is consumed at most once, and only by the browser that started it.
   */
  complete: (query: URLSearchParams, cookies: ReadonlyMap<string, string>) => Promise<CompletedLogin>
  /** The cookie name bound to a state (so the caller can clear it). */
  cookieName: (state: string) => string
}

interface StateRecord {
  v: 1
  /** SHA-256 (base64url) of the cookie value: the store never holds the browser's secret itself. */
  binding: string
  verifier: string
  nonce: string
  lang?: Language
}

/** openid-client's randomState() is 32 random bytes in base64url (43 characters). */
const STATE_SHAPE = /^[A-Za-z0-9_-]{32,128}$/
const KEY_PREFIX = 'login-state:'

function random (): string {
  return randomBytes(32).toString('base64url')
}

function sha256 (s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest()
}

function parseRecord (raw: string): StateRecord | undefined {
  try {
    const r = JSON.parse(raw) as Partial<StateRecord>
    if (r.v !== 1 || typeof r.binding !== 'string' || typeof r.verifier !== 'string' || typeof r.nonce !== 'string') return undefined
    return r as StateRecord
  } catch {
    return undefined
  }
}

function isUnknownKid (err: unknown): boolean {
  return err instanceof KubegateError && err.failure === 'unknown_kid'
}

/**
 * A refusal by kubegate's verifier or claim mapping (4xx) is a verdict about the account: `not_allowed`.
 * Anything temporary (503: issuer keys unavailable, verification busy) is `try_again`, never `not_allowed`;
 * anything else is a bug and stays an internal error.
 */
function classifyVerifyError (err: unknown): unknown {
  if (!(err instanceof KubegateError)) return err
  const detail = `${err.code}: ${err.detail ?? ''}`
  if (err.statusCode >= 500) return new LoginError('try_again', detail, { cause: err })
  return new LoginError('not_allowed', detail, { cause: err })
}

/** Decodes the payload of a compact JWS that has already been verified. */
function payloadOf (token: string): Record<string, unknown> {
  const part = token.split('.')[1] ?? ''
  const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'))
  return typeof value === 'object' && value !== null ? value as Record<string, unknown> : {}
}

/**
 * The authorization-code flow with PKCE (S256), `state` and `nonce`, with its state kept in a
 * LoginStateStore under a TTL and bound to the starting browser by a cookie:
 *
 *   begin:    state, nonce, PKCE verifier, binding secret b  ->  store[state] = {sha256(b), verifier, nonce}
 *             cookie <prefix><state[0..16]> = b  ->  redirect to the issuer
 *   complete: store[state] exists (else expired/replayed/foreign) and sha256(cookie) matches (else another
 *             browser: login CSRF) -> take it atomically (replay) -> openid-client redeems the code ->
 *             kubegate's authenticator verifies the ID token -> its nonce must be this login's.
 *
 * Binding is checked before the state is consumed, so someone submitting a victim's state from their own
 * browser cannot burn the victim's login.
 */
class AuthorizationCodeFlow implements LoginFlow {
  readonly #options: LoginFlowOptions
  readonly #ttlMs: number

  constructor (options: LoginFlowOptions) {
    this.#options = options
    this.#ttlMs = options.stateTtlSeconds * 1000
  }

  cookieName (state: string): string {
    return this.#options.cookiePrefix + state.slice(0, 16)
  }

  async begin (lang?: Language): Promise<StartedLogin> {
    const state = random()
    const nonce = random()
    const verifier = random()
    const binding = random()
    const codeChallenge = createHash('sha256').update(verifier, 'ascii').digest('base64url')
    let authorizationUrl: URL
    try {
      authorizationUrl = await this.#options.relyingParty.authorizationUrl({ state, nonce, codeChallenge })
    } catch (err) {
      throw new LoginError('issuer_unavailable', err instanceof Error ? err.message : String(err), { cause: err })
    }
    const record: StateRecord = { v: 1, binding: sha256(binding).toString('base64url'), verifier, nonce }
    if (lang !== undefined) record.lang = lang
    await this.#options.store.set(KEY_PREFIX + state, JSON.stringify(record), this.#ttlMs)
    return { authorizationUrl, state, cookieName: this.cookieName(state), cookieValue: binding }
  }

  async complete (query: URLSearchParams, cookies: ReadonlyMap<string, string>): Promise<CompletedLogin> {
    const state = query.get('state')
    if (state === null || !STATE_SHAPE.test(state) || query.getAll('state').length !== 1) {
      throw new LoginError('bad_request', 'missing or malformed state')
    }
    const record = await this.#takeBoundState(state, cookies)
    const error = query.get('error')
    if (error !== null) throw new LoginError('provider_error', `issuer error ${error.slice(0, 64)}`)
    const idToken = await this.#redeem(query, state, record)
    const identity = await this.#identityOf(idToken)
    // Verified above, so the payload can be read. openid-client checked the nonce already; this check
    // keeps the guarantee even if the relying-party layer is ever replaced.
    const payload = payloadOf(idToken)
    if (payload.nonce !== record.nonce) throw new LoginError('bad_nonce', 'ID token nonce does not match this login')
    return {
      identity,
      idToken,
      name: typeof payload.name === 'string' ? payload.name : undefined,
      email: typeof payload.email === 'string' ? payload.email : undefined,
      lang: record.lang,
    }
  }

  /** The state's record, if this browser holds its binding cookie; consumed atomically (one use). */
  async #takeBoundState (state: string, cookies: ReadonlyMap<string, string>): Promise<StateRecord> {
    const key = KEY_PREFIX + state
    const raw = await this.#options.store.get(key)
    const record = raw === undefined ? undefined : parseRecord(raw)
    if (record === undefined) throw new LoginError('unknown_state', 'state unknown, expired or already used')
    const cookie = cookies.get(this.cookieName(state))
    if (cookie === undefined) throw new LoginError('foreign_state', 'no login cookie for this state')
    const expected = Buffer.from(record.binding, 'base64url')
    const actual = sha256(cookie)
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) {
      throw new LoginError('foreign_state', 'login cookie does not match the state')
    }
    // Consume atomically: of two concurrent callbacks with this state, one gets it.
    if (await this.#options.store.take(key) === undefined) throw new LoginError('unknown_state', 'state consumed concurrently')
    return record
  }

  /** The code redeemed at the issuer's token endpoint; resolves with the raw ID token. */
  async #redeem (query: URLSearchParams, state: string, record: StateRecord): Promise<string> {
    // Rebuilt on the configured URL: the Host header must not choose the redirect_uri sent to the issuer.
    const callbackUrl = new URL(this.#options.redirectUri)
    callbackUrl.search = query.toString()
    try {
      return await this.#options.relyingParty.exchange(callbackUrl, { state, nonce: record.nonce, codeVerifier: record.verifier })
    } catch (err) {
      if (err instanceof IssuerUnavailableError) throw new LoginError('issuer_unavailable', err.message, { cause: err })
      throw new LoginError('exchange_failed', err instanceof Error ? `${err.name}: ${err.message}` : String(err), { cause: err })
    }
  }

  /**
   * The ID token through kubegate's authenticator. Its `kid` is the issuer's own (the token came from the
   * token endpoint), so an unknown one means the issuer rotated: refresh the keys now and try once more.
   */
  async #identityOf (idToken: string): Promise<Identity> {
    const { authenticator, refreshKeys } = this.#options
    try {
      return (await authenticator.authenticate(idToken)).identity
    } catch (err) {
      if (!isUnknownKid(err)) throw classifyVerifyError(err)
    }
    if (refreshKeys === undefined) throw new LoginError('try_again', 'ID token names an unknown key; no key refresh available')
    if (!(await refreshKeys())) throw new LoginError('try_again', 'ID token names an unknown key and the key set could not be fetched')
    try {
      return (await authenticator.authenticate(idToken)).identity
    } catch (err) {
      if (isUnknownKid(err)) throw new LoginError('try_again', 'the issuer signed with a key its key set does not hold (yet)', { cause: err })
      throw classifyVerifyError(err)
    }
  }
}

export function createLoginFlow (options: LoginFlowOptions): LoginFlow {
  return new AuthorizationCodeFlow(options)
}

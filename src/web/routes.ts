// The login page's local routes: GET /login starts the flow, GET /callback completes it and renders the result.
import { randomBytes } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import type { Authenticator } from '../auth/authenticator.js'
import { deriveNamespaceName } from '../classroom/names.js'
import type { LocalHandler } from '../server/handler.js'
import { isLanguage, pickLanguage, type Language } from './i18n.js'
import { buildKubeconfig, kubeconfigNames, type KubeloginCredential } from './kubeconfig.js'
import { createLoginFlow, LoginError, type CompletedLogin, type LoginFlow } from './login-flow.js'
import { pageHeaders, renderErrorPage, renderLoginPage } from './page.js'
import { createOpenIdRelyingParty, type RelyingParty } from './relying-party.js'
import { createMemoryLoginStateStore, type LoginStateStore } from './state-store.js'

export interface LoginRoutesOptions {
  /** `login.publicUrl`: origin only (validated by the config loader). */
  readonly publicUrl: string
  readonly issuerUrl: string
  readonly clientId: string
  readonly clientSecret?: string | undefined
  readonly scopes: readonly string[]
  /** PEM CA of the issuer: for openid-client, and for kubelogin in the handed-out kubeconfig. */
  readonly issuerCaPem?: string | undefined
  /** PEM CA for the kubeconfig's cluster (kubegate's serving certificate), undefined when publicly trusted. */
  readonly clusterCaPem?: string | undefined
  readonly userNamespaceFromEmail: boolean
  readonly includeClientSecret: boolean
  readonly staticTokenForm: boolean
  readonly stateTtlSeconds: number
  readonly authenticator: Pick<Authenticator, 'authenticate'>
  /** The verifier's key refresh that ignores the cooldown (LoginFlowOptions.refreshKeys). */
  readonly refreshKeys?: (() => Promise<boolean>) | undefined
  readonly logger: Logger
  /** Shared store for multi-replica deployments; an in-memory one by default. */
  readonly store?: LoginStateStore | undefined
  /** Tests substitute the relying party; production uses openid-client. */
  readonly relyingParty?: RelyingParty | undefined
  readonly now?: () => number
}

export interface LoginRoutes {
  /** `/login` and `/callback`, for StartOptions.localRoutes: answered by kubegate, never forwarded. */
  readonly routes: ReadonlyMap<string, LocalHandler>
  readonly flow: LoginFlow
  close: () => Promise<void>
}

/** Cookies from the request, first occurrence of each name winning. Malformed pairs are skipped. */
export function parseCookies (header: string | undefined): Map<string, string> {
  const out = new Map<string, string>()
  if (header === undefined) return out
  for (const part of header.split(';', 64)) {
    const eq = part.indexOf('=')
    if (eq <= 0) continue
    const name = part.slice(0, eq).trim()
    const value = part.slice(eq + 1).trim()
    if (name !== '' && !out.has(name)) out.set(name, value)
  }
  return out
}

function queryOf (req: IncomingMessage): URLSearchParams {
  const url = req.url ?? ''
  const q = url.indexOf('?')
  return new URLSearchParams(q === -1 ? '' : url.slice(q + 1))
}

type ExtraHeaders = Record<string, string | string[]>

/**
 * The login page: `GET /login` starts the authorization-code flow, `GET /callback` completes it and
 * shows the identity the proxy will use plus two kubeconfigs (kubelogin exec plugin; static ID token).
 * Served on the kubegate listener as local routes, never forwarded upstream.
 */
class LoginPages {
  readonly flow: LoginFlow
  readonly #options: LoginRoutesOptions
  readonly #now: () => number
  readonly #publicUrl: string
  readonly #cookieAttributes: string
  readonly #credential: KubeloginCredential
  readonly #log: Logger

  constructor (options: LoginRoutesOptions, flow: LoginFlow, publicUrl: string) {
    this.flow = flow
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#publicUrl = publicUrl
    this.#log = options.logger
    this.#cookieAttributes = `; Path=/; HttpOnly; SameSite=Lax${publicUrl.startsWith('https:') ? '; Secure' : ''}`
    this.#credential = {
      kind: 'kubelogin',
      issuerUrl: options.issuerUrl,
      clientId: options.clientId,
      clientSecret: options.includeClientSecret ? options.clientSecret : undefined,
      extraScopes: options.scopes.filter((s) => s !== 'openid'),
      issuerCaPem: options.issuerCaPem,
    }
  }

  readonly login: LocalHandler = (req, res) => {
    const query = queryOf(req)
    const forced = query.get('lang')
    const lang = isLanguage(forced) ? forced : pickLanguage(req.headers['accept-language'])
    if (req.method !== 'GET') {
      this.#methodNotAllowed(res, lang)
      return
    }
    this.flow.begin(isLanguage(forced) ? forced : undefined).then((started) => {
      res.writeHead(302, {
        Location: started.authorizationUrl.href,
        'Set-Cookie': `${started.cookieName}=${started.cookieValue}; Max-Age=${this.#options.stateTtlSeconds}${this.#cookieAttributes}`,
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
        'Content-Length': 0,
      })
      res.end()
    }).catch((err: unknown) => this.#fail(req, res, lang, err))
  }

  readonly callback: LocalHandler = (req, res) => {
    const query = queryOf(req)
    const headerLang = pickLanguage(req.headers['accept-language'])
    if (req.method !== 'GET') {
      this.#methodNotAllowed(res, headerLang)
      return
    }
    const state = query.get('state')
    // The cookie has done its job whatever the outcome: clear it (only for a well-formed state).
    const clear: ExtraHeaders = state !== null && /^[A-Za-z0-9_-]{16,128}$/.test(state)
      ? { 'Set-Cookie': [`${this.flow.cookieName(state)}=; Max-Age=0${this.#cookieAttributes}`] }
      : {}
    this.flow.complete(query, parseCookies(req.headers.cookie))
      .then((done) => this.#sendCompleted(res, done.lang ?? headerLang, done, clear))
      .catch((err: unknown) => this.#fail(req, res, headerLang, err, clear))
  }

  /** The signed-in page: identity, the kubelogin kubeconfig and (when enabled) the static-token one. */
  #sendCompleted (res: ServerResponse, lang: Language, done: CompletedLogin, extra: ExtraHeaders): void {
    const server = this.#publicUrl
    const caPem = this.#options.clusterCaPem
    const namespace = this.#namespaceFor(done)
    const exec = buildKubeconfig({ server, caPem, namespace, credential: this.#credential })
    const cluster = kubeconfigNames({ server, credential: this.#credential }).cluster
    const token = this.#options.staticTokenForm
      ? buildKubeconfig({ server, caPem, namespace, credential: { kind: 'token', token: done.idToken } })
      : undefined
    this.#log.info({ user: done.identity.user, groups: done.identity.groups, exp: done.identity.exp }, 'login completed')
    this.#sendPage(res, 200, lang, (nonce) => renderLoginPage({
      lang,
      nonce,
      user: done.identity.user,
      groups: done.identity.groups,
      name: done.name,
      namespace,
      exp: done.identity.exp,
      now: this.#now(),
      exec: { id: 'kubeconfig-exec', text: exec, fileName: `kubeconfig-${cluster}.yaml` },
      token: token === undefined ? undefined : { id: 'kubeconfig-token', text: token, fileName: `kubeconfig-${cluster}-token.yaml` },
    }), extra)
  }

  #sendPage (res: ServerResponse, status: number, lang: Language, html: (nonce: string) => string, extra: ExtraHeaders = {}): void {
    const nonce = randomBytes(18).toString('base64')
    const body = Buffer.from(html(nonce), 'utf8')
    res.writeHead(status, { ...pageHeaders(nonce, lang), ...extra, 'Content-Length': body.length })
    res.end(body)
  }

  /** The error page for a LoginError's failure and status (503 with Retry-After); anything else is a 500. */
  #sendError (req: IncomingMessage, res: ServerResponse, lang: Language, err: unknown, extra: ExtraHeaders = {}): void {
    const e = err instanceof LoginError ? err : undefined
    const failure = e?.failure ?? 'internal'
    const status = e?.statusCode ?? 500
    const fields = { failure, detail: e?.detail ?? (err instanceof Error ? err.message : String(err)), path: (req.url ?? '').split('?')[0] }
    if (status >= 500) this.#log.warn(fields, 'login failed')
    else this.#log.info(fields, 'login refused')
    if (status === 503) extra['Retry-After'] = '5'
    this.#sendPage(res, status, lang, (nonce) => renderErrorPage(lang, nonce, failure), extra)
  }

  /** Errors after the response started cannot become a page: drop the connection instead. */
  #fail (req: IncomingMessage, res: ServerResponse, lang: Language, err: unknown, extra?: ExtraHeaders): void {
    if (res.headersSent) {
      this.#log.error({ err: err instanceof Error ? err.message : String(err) }, 'login page failed mid-response')
      res.destroy()
      return
    }
    this.#sendError(req, res, lang, err, extra)
  }

  #methodNotAllowed (res: ServerResponse, lang: Language): void {
    this.#sendPage(res, 405, lang, (nonce) => renderErrorPage(lang, nonce, 'method'), { Allow: 'GET' })
  }

  #namespaceFor (done: CompletedLogin): string | undefined {
    if (!this.#options.userNamespaceFromEmail) return undefined
    const email = done.email ?? (done.identity.user.includes('@') ? done.identity.user : undefined)
    return email === undefined ? undefined : deriveNamespaceName(email).name
  }
}

export function createLoginRoutes (options: LoginRoutesOptions): LoginRoutes {
  const now = options.now ?? Date.now
  const publicUrl = options.publicUrl.replace(/\/+$/, '')
  const redirectUri = `${publicUrl}/callback`
  const relyingParty = options.relyingParty ?? createOpenIdRelyingParty({
    issuerUrl: options.issuerUrl,
    clientId: options.clientId,
    clientSecret: options.clientSecret,
    redirectUri,
    scopes: options.scopes,
    ca: options.issuerCaPem,
    now,
  })
  const flow = createLoginFlow({
    relyingParty,
    authenticator: options.authenticator,
    refreshKeys: options.refreshKeys,
    store: options.store ?? createMemoryLoginStateStore({ now }),
    redirectUri,
    stateTtlSeconds: options.stateTtlSeconds,
    // __Host-: Secure, Path=/ and no Domain are enforced by the browser, so a sibling host cannot plant one.
    cookiePrefix: publicUrl.startsWith('https:') ? '__Host-kg-login-' : 'kg-login-',
  })
  const pages = new LoginPages(options, flow, publicUrl)
  return {
    routes: new Map([['/login', pages.login], ['/callback', pages.callback]]),
    flow,
    close: () => relyingParty.close(),
  }
}

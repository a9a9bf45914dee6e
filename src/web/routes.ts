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

/**
 * The login page: `GET /login` starts the authorization-code flow, `GET /callback` completes it and
 * shows the identity the proxy will use plus two kubeconfigs (kubelogin exec plugin; static ID token).
 * Served on the kubegate listener as local routes, never forwarded upstream.
 */
export function createLoginRoutes (options: LoginRoutesOptions): LoginRoutes {
  const now = options.now ?? Date.now
  const publicUrl = options.publicUrl.replace(/\/+$/, '')
  const redirectUri = `${publicUrl}/callback`
  const secure = publicUrl.startsWith('https:')
  const log = options.logger
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
    cookiePrefix: secure ? '__Host-kg-login-' : 'kg-login-',
  })
  const cookieAttributes = `; Path=/; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`
  const credential: KubeloginCredential = {
    kind: 'kubelogin',
    issuerUrl: options.issuerUrl,
    clientId: options.clientId,
    clientSecret: options.includeClientSecret ? options.clientSecret : undefined,
    extraScopes: options.scopes.filter((s) => s !== 'openid'),
    issuerCaPem: options.issuerCaPem,
  }

  function sendPage (res: ServerResponse, status: number, lang: Language, html: (nonce: string) => string, extra: Record<string, string | string[]> = {}): void {
    const nonce = randomBytes(18).toString('base64')
    const body = Buffer.from(html(nonce), 'utf8')
    res.writeHead(status, { ...pageHeaders(nonce, lang), ...extra, 'Content-Length': body.length })
    res.end(body)
  }

  function sendError (req: IncomingMessage, res: ServerResponse, lang: Language, err: unknown, extra: Record<string, string | string[]> = {}): void {
    const e = err instanceof LoginError ? err : undefined
    const failure = e?.failure ?? 'internal'
    const status = e?.statusCode ?? 500
    const fields = { failure, detail: e?.detail ?? (err instanceof Error ? err.message : String(err)), path: (req.url ?? '').split('?')[0] }
    if (status >= 500) log.warn(fields, 'login failed')
    else log.info(fields, 'login refused')
    if (status === 503) extra['Retry-After'] = '5'
    sendPage(res, status, lang, (nonce) => renderErrorPage(lang, nonce, failure), extra)
  }

  /** Errors after the response started cannot become a page: drop the connection instead. */
  function fail (req: IncomingMessage, res: ServerResponse, lang: Language, err: unknown, extra?: Record<string, string | string[]>): void {
    if (res.headersSent) {
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'login page failed mid-response')
      res.destroy()
      return
    }
    sendError(req, res, lang, err, extra)
  }

  function methodNotAllowed (res: ServerResponse, lang: Language): void {
    sendPage(res, 405, lang, (nonce) => renderErrorPage(lang, nonce, 'method'), { Allow: 'GET' })
  }

  function namespaceFor (done: CompletedLogin): string | undefined {
    if (!options.userNamespaceFromEmail) return undefined
    const email = done.email ?? (done.identity.user.includes('@') ? done.identity.user : undefined)
    return email === undefined ? undefined : deriveNamespaceName(email).name
  }

  const login: LocalHandler = (req, res) => {
    const query = queryOf(req)
    const forced = query.get('lang')
    const lang = isLanguage(forced) ? forced : pickLanguage(req.headers['accept-language'])
    if (req.method !== 'GET') {
      methodNotAllowed(res, lang)
      return
    }
    flow.begin(isLanguage(forced) ? forced : undefined).then((started) => {
      res.writeHead(302, {
        Location: started.authorizationUrl.href,
        'Set-Cookie': `${started.cookieName}=${started.cookieValue}; Max-Age=${options.stateTtlSeconds}${cookieAttributes}`,
        'Cache-Control': 'no-store',
        'Referrer-Policy': 'no-referrer',
        'Content-Length': 0,
      })
      res.end()
    }).catch((err: unknown) => fail(req, res, lang, err))
  }

  const callback: LocalHandler = (req, res) => {
    const query = queryOf(req)
    const headerLang = pickLanguage(req.headers['accept-language'])
    if (req.method !== 'GET') {
      methodNotAllowed(res, headerLang)
      return
    }
    const state = query.get('state')
    // The cookie has done its job whatever the outcome: clear it (only for a well-formed state).
    const clear: Record<string, string[]> = state !== null && /^[A-Za-z0-9_-]{16,128}$/.test(state)
      ? { 'Set-Cookie': [`${flow.cookieName(state)}=; Max-Age=0${cookieAttributes}`] }
      : {}
    flow.complete(query, parseCookies(req.headers.cookie)).then((done) => {
      const lang = done.lang ?? headerLang
      const namespace = namespaceFor(done)
      const exec = buildKubeconfig({ server: publicUrl, caPem: options.clusterCaPem, namespace, credential })
      const cluster = kubeconfigNames({ server: publicUrl, credential }).cluster
      const token = options.staticTokenForm
        ? buildKubeconfig({ server: publicUrl, caPem: options.clusterCaPem, namespace, credential: { kind: 'token', token: done.idToken } })
        : undefined
      log.info({ user: done.identity.user, groups: done.identity.groups, exp: done.identity.exp }, 'login completed')
      sendPage(res, 200, lang, (nonce) => renderLoginPage({
        lang,
        nonce,
        user: done.identity.user,
        groups: done.identity.groups,
        name: done.name,
        namespace,
        exp: done.identity.exp,
        now: now(),
        exec: { id: 'kubeconfig-exec', text: exec, fileName: `kubeconfig-${cluster}.yaml` },
        token: token === undefined ? undefined : { id: 'kubeconfig-token', text: token, fileName: `kubeconfig-${cluster}-token.yaml` },
      }), clear)
    }).catch((err: unknown) => fail(req, res, headerLang, err, clear))
  }

  return {
    routes: new Map([['/login', login], ['/callback', callback]]),
    flow,
    close: () => relyingParty.close(),
  }
}

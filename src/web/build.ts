// Builds the login page (`/login`, `/callback`) from config, with its state on the shared store when there is one.
import { readFileSync } from 'node:fs'
import type { Logger } from 'pino'
import type { Authenticator } from '../auth/authenticator.js'
import type { Config } from '../config/load.js'
import type { Store } from '../store/types.js'
import { createLoginRoutes, type LoginRoutes } from './routes.js'
import { LOGIN_KEY_PREFIX, type LoginStateStore } from './state-store.js'

export interface LoginDeps {
  /** Verifies the ID token the login hands out; the serving authenticator (an OIDC reload swaps it). */
  readonly authenticator: Pick<Authenticator, 'authenticate'>
  /**
   * Refreshes the serving issuer's keys now, past the cooldown: the login's ID token comes straight from the
   * issuer's token endpoint, so its unknown `kid` means a real rotation, not a forged token.
   */
  readonly refreshKeys: () => Promise<boolean>
  /** The issuer people sign in with (the flags' issuer, or an AuthenticationConfiguration's first); none: no login page. */
  readonly issuer: { readonly issuerUrl: string, readonly clientId: string, readonly caPem: string | undefined } | undefined
  /** The shared store (revocations, rate limits); logins in progress go there when it is Redis. */
  readonly sharedStore: Store
  readonly logger: Logger
  /** Where logins in progress wait; overrides the shared store (tests). */
  readonly stateStore?: LoginStateStore | undefined
  readonly now?: (() => number) | undefined
}

/** Login state on the shared store, under its own key space. */
export function loginStoreOn (store: Store): LoginStateStore {
  const k = (key: string): string => LOGIN_KEY_PREFIX + key
  return {
    set: (key, value, ttlMs) => store.set(k(key), value, ttlMs),
    get: (key) => store.get(k(key)),
    take: (key) => store.take(k(key)),
    delete: async (key) => { await store.delete(k(key)) },
  }
}

/** Reads a file's text; `undefined` for an unset path. */
function readText (file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, 'utf8')
}

/**
 * The login page, on when `login.publicUrl` is set (undefined otherwise). The client id and issuer are the
 * proxy's own (with an AuthenticationConfiguration: the first issuer and its first audience), so the ID
 * token it hands out is exactly one the proxy accepts.
 */
export function buildLogin (config: Config, deps: LoginDeps): LoginRoutes | undefined {
  const l = config.login
  if (l.publicUrl === undefined) return undefined
  // Default CA for the kubeconfig: the serving chain; `-` means publicly trusted (no CA data).
  const clusterCaPem = l.caFile === '-' ? undefined : readText(l.caFile ?? config.tls.certFile)
  const secret = readText(l.clientSecretFile)?.replace(/\r?\n$/, '')
  if (secret === '') throw new Error('login.clientSecretFile: the file is empty')
  if (deps.issuer === undefined) throw new Error('login.publicUrl: the login page needs an issuer (the AuthenticationConfiguration lists none)')
  return createLoginRoutes({
    publicUrl: l.publicUrl,
    issuerUrl: deps.issuer.issuerUrl,
    clientId: deps.issuer.clientId,
    clientSecret: secret,
    scopes: l.scopes,
    issuerCaPem: deps.issuer.caPem,
    clusterCaPem,
    userNamespaceFromEmail: l.userNamespaceFromEmail,
    includeClientSecret: l.includeClientSecret,
    staticTokenForm: l.staticTokenForm,
    stateTtlSeconds: l.stateTtlSeconds,
    authenticator: deps.authenticator,
    refreshKeys: deps.refreshKeys,
    logger: deps.logger.child({ component: 'login' }),
    // With Redis (or the workers' IPC store), logins in progress live there, so /login and /callback may land on
    // different replicas or workers.
    // The single-replica default keeps the login module's own bounded memory store (/login is unauthenticated).
    store: deps.stateStore ?? (deps.sharedStore.kind !== 'memory' ? loginStoreOn(deps.sharedStore) : undefined),
    now: deps.now,
  })
}

// The configured issuers as one verifier + mapper pair for the token cache: the unverified `iss` picks the issuer's verifier, the verified `iss` its mapping.
import type { Identity } from '../auth/identity.js'
import { KubegateError } from '../errors.js'
import type { CompiledJwtAuthenticator } from './compiled.js'
import type { GuardOptions } from './guards.js'
import type { LoadedAuthentication } from './load.js'
import { createIdentityMapper, type IdentityMapper } from './map-identity.js'
import { IssuerRouter } from './routing.js'

/** What kubegate needs of one issuer's verifier (src/oidc/verifier.ts). */
export interface IssuerVerifier {
  verify: (token: string) => Promise<{ readonly payload: Readonly<Record<string, unknown>>, readonly exp: number, readonly kid?: string | undefined }>
  isReady: () => boolean
  status: () => { discovered: boolean, jwksLoaded: boolean }
  start: () => Promise<void>
  close: () => Promise<void>
}

/** Builds the verifier of one `jwt[]` entry (its URL, discovery URL, CA, audiences, the accepted algorithms). */
export type VerifierFactory<V extends IssuerVerifier> = (authenticator: CompiledJwtAuthenticator, signingAlgs: readonly string[]) => V

export interface Issuer<V extends IssuerVerifier> {
  readonly url: string
  readonly verifier: V
  readonly mapIdentity: IdentityMapper
}

export interface IssuerSet<V extends IssuerVerifier> {
  readonly router: IssuerRouter<Issuer<V>>
  /** The issuer a token claims to come from (unverified `iss`, exact match), or undefined: for TokenReview routing. */
  route: (token: string) => Issuer<V> | undefined
  hasIssuer: (iss: string) => boolean
  /** For the token cache: routes by the unverified `iss`; a token of no configured issuer is a 401. */
  verify: IssuerVerifier['verify']
  /** For the token cache: maps with the rules of the issuer that verified the token (`iss` is verified by now). */
  mapClaims: (payload: Readonly<Record<string, unknown>>, exp: number) => Identity
  /** `/readyz`: one check per issuer. */
  readiness: () => Array<{ issuer: string, problem: string | undefined }>
  start: () => Promise<void>
  close: () => Promise<void>
}

function notFromAnIssuer (): never {
  throw new KubegateError('KG_ERR_BAD_TOKEN', 'the token is not from a configured issuer', { failure: 'unknown_issuer' })
}

function readinessOf (v: IssuerVerifier): string | undefined {
  if (v.isReady()) return undefined
  const s = v.status()
  return !s.discovered ? 'discovery pending' : !s.jwksLoaded ? 'key set not loaded' : 'key set stale'
}

export function createIssuerSet<V extends IssuerVerifier> (auth: LoadedAuthentication, guards: GuardOptions, factory: VerifierFactory<V>): IssuerSet<V> {
  const router = new IssuerRouter(auth.authenticators.map((a): [string, Issuer<V>] => [a.config.issuer.url, {
    url: a.config.issuer.url,
    verifier: factory(a, auth.signingAlgs),
    mapIdentity: createIdentityMapper(a, guards),
  }]))
  const all = [...router.entries()].map(([, i]) => i)
  return {
    router,
    route: (token) => router.route(token),
    hasIssuer: (iss) => router.hasIssuer(iss),
    verify (token) {
      const issuer = router.route(token)
      return issuer === undefined ? Promise.reject(new KubegateError('KG_ERR_BAD_TOKEN', 'the token is not from a configured issuer', { failure: 'unknown_issuer' })) : issuer.verifier.verify(token)
    },
    mapClaims (payload, exp) {
      const issuer = typeof payload.iss === 'string' ? router.get(payload.iss) : undefined
      return issuer === undefined ? notFromAnIssuer() : issuer.mapIdentity(payload, exp)
    },
    readiness: () => all.map((i) => ({ issuer: i.url, problem: readinessOf(i.verifier) })),
    start: async () => { await Promise.all(all.map((i) => i.verifier.start())) },
    close: async () => { await Promise.all(all.map((i) => i.verifier.close())) },
  }
}

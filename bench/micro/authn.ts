/**
 * The cost AuthenticationConfiguration adds: a cached token with 3 issuers and CEL mappings vs one issuer from
 * the --oidc-* flags (the mapped identity is cached with the token, so these must be equal), and the mapping
 * itself on a cache miss (claims vs CEL). The cache is filled through a verifier that only decodes the
 * payload: signatures are measured in verify.ts, and a cache hit never reaches the verifier.
 */
import { createAuthenticator, type Authenticator } from '../../src/auth/authenticator.js'
import { authenticationFromFlags } from '../../src/authn/from-flags.js'
import { createIssuerSet, type IssuerVerifier } from '../../src/authn/issuer-set.js'
import { parseAuthenticationConfiguration } from '../../src/authn/load.js'
import { createIdentityMapper } from '../../src/authn/map-identity.js'
import type { MicroCase } from './harness.js'

const GUARDS = { allowReservedIdentities: false, maxGroups: 256 }

function payloadOf (token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
}

/** Fills the cache only (see the file comment). */
const decodeOnly = (): IssuerVerifier => ({
  verify: async (t) => { const payload = payloadOf(t); return { payload, exp: payload.exp as number } },
  isReady: () => true,
  status: () => ({ discovered: true, jwksLoaded: true }),
  start: async () => {},
  close: async () => {},
})

function threeIssuers (issuer: string): string {
  const others = ['https://ci.example.com', 'https://tenant.example.com/t'].map((url) => `
  - issuer: { url: "${url}", audiences: [kubegate] }
    claimMappings: { username: { claim: sub, prefix: "x:" } }`).join('')
  return `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:${others}
  - issuer: { url: "${issuer}", audiences: [kubegate] }
    claimValidationRules:
      - expression: "claims.email_verified == true"
      - expression: "claims.email.endsWith('@example.com')"
    claimMappings:
      username: { expression: "claims.email.lowerAscii()" }
      groups: { expression: "claims.groups.map(g, 'oidc:' + g)" }
      uid: { expression: "claims.sub" }
      extra: [{ key: example.com/name, valueExpression: "claims.name" }]
    userValidationRules:
      - expression: "!user.username.startsWith('system:')"
`
}

async function filled (verify: IssuerVerifier['verify'], mapClaims: (p: Readonly<Record<string, unknown>>, exp: number) => ReturnType<ReturnType<typeof createIdentityMapper>>, tokens: readonly string[]): Promise<Authenticator> {
  const a = createAuthenticator({ verifier: { verify }, mapClaims, maxEntries: 10_000, maxTtlSeconds: 3600, negativeTtlSeconds: 0, negativeMaxEntries: 0 })
  for (const t of tokens) await a.authenticate(t)
  return a
}

export async function cases (tokens: readonly string[]): Promise<MicroCase[]> {
  const issuer = String(payloadOf(tokens[0] as string).iss)
  const flags = authenticationFromFlags({ issuerUrl: issuer, clientId: 'kubegate', usernameClaim: 'email', groupsClaim: 'groups', requiredClaims: {}, signingAlgs: ['RS256'] }, undefined)
  const flagSet = createIssuerSet(flags, GUARDS, decodeOnly)
  const fileSet = createIssuerSet(parseAuthenticationConfiguration(threeIssuers(issuer), 'bench'), GUARDS, decodeOnly)
  const one = await filled(flagSet.verify, flagSet.mapClaims, tokens)
  const three = await filled(fileSet.verify, fileSet.mapClaims, tokens)
  const payloads = tokens.map(payloadOf)
  let i = 0
  return [
    { name: 'authenticate, cached: --oidc-* flags, 1 issuer', fn: () => one.authenticate(tokens[(i++) % tokens.length] as string) },
    { name: 'authenticate, cached: 3 issuers, CEL mappings', fn: () => three.authenticate(tokens[(i++) % tokens.length] as string) },
    { name: 'mapping on a miss: flags (email + 2 groups)', fn: () => flagSet.mapClaims(payloads[(i++) % payloads.length] as Record<string, unknown>, 0) },
    { name: 'mapping on a miss: CEL (user, groups, uid, extra, 3 rules)', fn: () => fileSet.mapClaims(payloads[(i++) % payloads.length] as Record<string, unknown>, 0) },
  ]
}

/**
 * A real, certified OpenID Provider on loopback for the login-flow tests: the npm `oidc-provider` package
 * over HTTPS (test PKI), configured to look like Dex to a relying party: ID tokens carry `email`,
 * `email_verified`, `groups` and `name` directly (Dex does not make clients call userinfo), consent is
 * skipped (Dex's skipApprovalScreen), and its development login form signs in any account id that the
 * test registered.
 */
import { generateKeyPair as generateKeyPairCb, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { promisify } from 'node:util'
import Provider, { type GrantInstance } from 'oidc-provider'
import { issueServerCert, type TestPki } from './pki.js'

const generateKeyPair = promisify(generateKeyPairCb)

export interface TestAccount {
  email: string
  email_verified?: boolean
  groups?: string[]
  name?: string
}

export interface OidcProviderOptions {
  pki: TestPki
  clientId: string
  clientSecret: string
  redirectUris: string[]
  /** Login name (what the user types into the dev login form) -> claims. */
  accounts: Record<string, TestAccount>
  idTokenTtlSeconds?: number
}

export interface TestOidcProvider {
  /** `https://127.0.0.1:<port>`: the exact `iss`. */
  url: string
  caFile: string
  caPem: string
  /** Requests received, by path (e.g. to count token-endpoint calls). */
  paths: string[]
  close: () => Promise<void>
}

export async function startOidcProvider (o: OidcProviderOptions): Promise<TestOidcProvider> {
  const cert = await issueServerCert(o.pki, 'oidc-provider')
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomBytes(8).toString('hex'), use: 'sig', alg: 'RS256' }
  const paths: string[] = []
  const sockets = new Set<Socket>()
  const server: Server = createServer({ cert: cert.certPem, key: cert.keyPem })
  server.on('connection', (s: Socket) => { sockets.add(s); s.on('close', () => sockets.delete(s)) })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`

  const provider = new Provider(url, {
    clients: [{
      client_id: o.clientId,
      client_secret: o.clientSecret,
      redirect_uris: o.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
      profile: ['name'],
    },
    scopes: ['openid', 'offline_access', 'email', 'groups', 'profile'],
    // Dex puts the scope-derived claims into the ID token itself.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    pkce: { required: () => true },
    ttl: { IdToken: o.idTokenTtlSeconds ?? 3600, AccessToken: 3600, Interaction: 600, Grant: 3600, Session: 3600 },
    async findAccount (_ctx: unknown, id: string) {
      const account = o.accounts[id]
      if (account === undefined) return undefined
      return {
        accountId: id,
        async claims () {
          return { sub: id, email_verified: true, ...account }
        },
      }
    },
    // Consent granted up front for what the client asks (Dex's skipApprovalScreen).
    async loadExistingGrant (ctx: { oidc: { session: { accountId: string }, client: { clientId: string }, params: { scope?: string } } } & Record<string, any>) {
      const grant: GrantInstance = new provider.Grant({ accountId: ctx.oidc.session.accountId, clientId: ctx.oidc.client.clientId })
      grant.addOIDCScope(ctx.oidc.params.scope ?? 'openid')
      grant.addOIDCClaims(['email', 'email_verified', 'groups', 'name'])
      await grant.save()
      return grant
    },
  })
  const handler = provider.callback()
  server.on('request', (req, res) => {
    paths.push((req.url ?? '').split('?')[0] as string)
    handler(req, res)
  })

  return {
    url,
    caFile: o.pki.caFile,
    caPem: o.pki.caPem,
    paths,
    async close () {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, beforeEach, describe, it } from 'node:test'
import { parse } from 'yaml'
import { createAuthenticator, type Authenticator } from '../../../src/auth/authenticator.js'
import { createClaimMapper } from '../../../src/claims/map.js'
import { KubegateError } from '../../../src/errors.js'
import { createLogger } from '../../../src/log/logger.js'
import { createOidcVerifier, type OidcVerifier } from '../../../src/oidc/verifier.js'
import { createLoginFlow, LoginError, type LoginFlow } from '../../../src/web/login-flow.js'
import type { AuthorizationParams, ExchangeChecks, RelyingParty } from '../../../src/web/relying-party.js'
import { IssuerUnavailableError } from '../../../src/web/relying-party.js'
import { createLoginRoutes, parseCookies, type LoginRoutes } from '../../../src/web/routes.js'
import { createMemoryLoginStateStore } from '../../../src/web/state-store.js'
import { startTestIssuer, type TestIssuer } from '../../helpers/issuer.js'

const PUBLIC = 'https://kubegate.example.edu'

/**
 * A relying party double: records what the flow asks, and "redeems" codes by having the test issuer sign
 * an ID token with the nonce the flow expects (or another one). Only the HTTP protocol part is faked; the
 * token still goes through kubegate's real verifier and claim mapper.
 */
interface FakeRp extends RelyingParty {
  authorizations: AuthorizationParams[]
  exchanges: Array<{ url: URL, checks: ExchangeChecks }>
  claims: Record<string, unknown>
  nonce: string | undefined
  discoveryDown: boolean
}

function fakeRp (issuer: TestIssuer): FakeRp {
  const authorizations: AuthorizationParams[] = []
  const exchanges: Array<{ url: URL, checks: ExchangeChecks }> = []
  const rp: FakeRp = {
    authorizations,
    exchanges,
    claims: {} as Record<string, unknown>,
    nonce: undefined as string | undefined,
    discoveryDown: false,
    async authorizationUrl (p: AuthorizationParams) {
      if (rp.discoveryDown) throw new IssuerUnavailableError('down')
      authorizations.push(p)
      return new URL(`${issuer.url}/auth?state=${p.state}`)
    },
    async exchange (url: URL, checks: ExchangeChecks): Promise<string> {
      exchanges.push({ url, checks })
      return issuer.token({ nonce: rp.nonce ?? checks.nonce, ...rp.claims })
    },
    async close () {},
  }
  return rp
}

let issuer: TestIssuer
let verifier: OidcVerifier
let authenticator: Authenticator

before(async () => {
  issuer = await startTestIssuer()
  verifier = createOidcVerifier({
    issuerUrl: issuer.url, clientId: 'kubegate', ca: issuer.caPem, signingAlgs: ['RS256'], clockSkewSeconds: 60,
    jwksRefreshCooldownSeconds: 30, jwksMaxAgeSeconds: 3600, jwksStaleAfterSeconds: 86400, maxPendingVerifications: 16,
  })
  await verifier.start()
  authenticator = createAuthenticator({
    verifier,
    mapClaims: createClaimMapper({
      issuerUrl: issuer.url, usernameClaim: 'email', groupsClaim: 'groups', requiredClaims: {}, allowReservedIdentities: false, maxGroups: 256,
    }),
    maxEntries: 100, maxTtlSeconds: 300, negativeTtlSeconds: 0, negativeMaxEntries: 0,
  })
})
after(async () => {
  await verifier.close()
  await issuer.close()
})

function query (state: string, extra: Record<string, string> = { code: 'the-code' }): URLSearchParams {
  return new URLSearchParams({ ...extra, state })
}

describe('login flow', () => {
  let rp: FakeRp
  let flow: LoginFlow
  let t: number
  beforeEach(() => {
    rp = fakeRp(issuer)
    t = Date.now()
    flow = createLoginFlow({
      relyingParty: rp,
      authenticator,
      store: createMemoryLoginStateStore({ now: () => t }),
      redirectUri: `${PUBLIC}/callback`,
      stateTtlSeconds: 600,
      cookiePrefix: '__Host-kg-login-',
    })
  })

  async function failure (p: Promise<unknown>): Promise<string> {
    try {
      await p
    } catch (err) {
      assert.ok(err instanceof LoginError, String(err))
      return err.failure
    }
    assert.fail('expected a LoginError')
  }

  it('sends a fresh state, nonce and S256 challenge; redeems with the matching verifier; identity from kubegate\'s mapper', async () => {
    const a = await flow.begin()
    const b = await flow.begin()
    assert.notEqual(a.state, b.state)
    const [pa, pb] = rp.authorizations as [AuthorizationParams, AuthorizationParams]
    assert.notEqual(pa.nonce, pb.nonce)
    assert.notEqual(pa.codeChallenge, pb.codeChallenge)
    assert.equal(a.cookieName, `__Host-kg-login-${a.state.slice(0, 16)}`)
    assert.match(a.state, /^[A-Za-z0-9_-]{43}$/)

    const done = await flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]]))
    const ex = rp.exchanges[0]
    assert.ok(ex !== undefined)
    // PKCE: the verifier sent at redemption hashes to the challenge sent at authorization.
    assert.equal(createHash('sha256').update(ex.checks.codeVerifier).digest('base64url'), pa.codeChallenge)
    assert.equal(ex.checks.state, a.state)
    assert.equal(ex.checks.nonce, pa.nonce)
    // The callback URL is rebuilt on the configured public URL, never on the request's Host.
    assert.equal(ex.url.origin + ex.url.pathname, `${PUBLIC}/callback`)
    assert.equal(ex.url.searchParams.get('code'), 'the-code')
    assert.equal(done.identity.user, 'alice@example.com')
    assert.deepEqual(done.identity.groups, ['dev'])
    assert.equal(done.name, 'Alice')
    // And the proxy now knows this exact token (same authenticator, cache hit).
    const again = authenticator.authenticate(done.idToken)
    assert.ok(!(again instanceof Promise))
  })

  it('a replayed state is refused and the code is never redeemed twice', async () => {
    const a = await flow.begin()
    const cookies = new Map([[a.cookieName, a.cookieValue]])
    await flow.complete(query(a.state), cookies)
    assert.equal(await failure(flow.complete(query(a.state), cookies)), 'unknown_state')
    assert.equal(rp.exchanges.length, 1)
  })

  it('concurrent callbacks with one state: exactly one succeeds', async () => {
    const a = await flow.begin()
    const cookies = new Map([[a.cookieName, a.cookieValue]])
    const results = await Promise.allSettled([flow.complete(query(a.state), cookies), flow.complete(query(a.state), cookies)])
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1)
    assert.equal(rp.exchanges.length, 1)
  })

  it('a state from another browser (mismatched or missing cookie) is refused without burning the real one', async () => {
    const victim = await flow.begin()
    const attacker = await flow.begin()
    // The attacker's browser holds its own cookie; the cookie name is derived from the state, so try both.
    assert.equal(await failure(flow.complete(query(victim.state), new Map([[victim.cookieName, attacker.cookieValue]]))), 'foreign_state')
    assert.equal(await failure(flow.complete(query(victim.state), new Map([[attacker.cookieName, attacker.cookieValue]]))), 'foreign_state')
    assert.equal(await failure(flow.complete(query(victim.state), new Map())), 'foreign_state')
    assert.equal(rp.exchanges.length, 0)
    const done = await flow.complete(query(victim.state), new Map([[victim.cookieName, victim.cookieValue]]))
    assert.equal(done.identity.user, 'alice@example.com')
  })

  it('unknown, malformed, duplicated and missing states are refused', async () => {
    const a = await flow.begin()
    const cookies = new Map([[a.cookieName, a.cookieValue]])
    assert.equal(await failure(flow.complete(query('A'.repeat(43)), cookies)), 'unknown_state')
    assert.equal(await failure(flow.complete(query('short'), cookies)), 'bad_request')
    assert.equal(await failure(flow.complete(new URLSearchParams({ code: 'x' }), cookies)), 'bad_request')
    const dup = new URLSearchParams([['state', a.state], ['state', a.state], ['code', 'x']])
    assert.equal(await failure(flow.complete(dup, cookies)), 'bad_request')
    assert.equal(rp.exchanges.length, 0)
  })

  it('an expired state is refused', async () => {
    const a = await flow.begin()
    t += 600_001
    assert.equal(await failure(flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]]))), 'unknown_state')
  })

  it('an ID token carrying another nonce is refused (kubegate\'s own check, whatever the relying party did)', async () => {
    const a = await flow.begin()
    rp.nonce = 'some-other-nonce'
    assert.equal(await failure(flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]]))), 'bad_nonce')
    const b = await flow.begin()
    rp.nonce = undefined
    rp.claims = { nonce: undefined }
    assert.equal(await failure(flow.complete(query(b.state), new Map([[b.cookieName, b.cookieValue]]))), 'bad_nonce')
  })

  it('the issuer\'s ?error= ends the login and consumes the state', async () => {
    const a = await flow.begin()
    const cookies = new Map([[a.cookieName, a.cookieValue]])
    assert.equal(await failure(flow.complete(query(a.state, { error: 'access_denied' }), cookies)), 'provider_error')
    assert.equal(await failure(flow.complete(query(a.state), cookies)), 'unknown_state')
    assert.equal(rp.exchanges.length, 0)
  })

  it('a token kubegate\'s verifier or mapper refuses is not shown: not_allowed', async () => {
    for (const claims of [{ email_verified: false }, { groups: ['system:masters'] }, { aud: 'other' }, { email: ' ' }]) {
      const a = await flow.begin()
      rp.claims = claims
      assert.equal(await failure(flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]]))), 'not_allowed', JSON.stringify(claims))
    }
  })

  it('issuer down at /login: issuer_unavailable, nothing stored', async () => {
    rp.discoveryDown = true
    assert.equal(await failure(flow.begin()), 'issuer_unavailable')
  })
})

describe('login routes over HTTP', () => {
  let server: Server
  let base: string
  let routes: LoginRoutes
  let rp: FakeRp
  const logLines: string[] = []

  before(async () => {
    rp = fakeRp(issuer)
    routes = createLoginRoutes({
      publicUrl: PUBLIC,
      issuerUrl: issuer.url,
      clientId: 'kubegate',
      clientSecret: 'very-secret-value',
      scopes: ['openid', 'email', 'groups', 'profile'],
      issuerCaPem: issuer.caPem,
      clusterCaPem: issuer.caPem,
      userNamespaceFromEmail: true,
      includeClientSecret: false,
      staticTokenForm: true,
      stateTtlSeconds: 300,
      authenticator,
      logger: createLogger({ level: 'debug', destination: { write: (s: string) => { logLines.push(s); return true } } as never }),
      relyingParty: rp,
    })
    server = createServer((req, res) => {
      const h = routes.routes.get((req.url ?? '').split('?')[0] as string)
      if (h === undefined) res.writeHead(404).end()
      else h(req, res)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  function get (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number, headers: Record<string, string | string[] | undefined>, body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(base + path, { method, headers }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (c: string) => { body += c })
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
      })
      req.on('error', reject)
      req.end()
    })
  }

  async function startLogin (headers: Record<string, string> = {}, path = '/login'): Promise<{ state: string, cookie: string }> {
    const r = await get(path, headers)
    assert.equal(r.status, 302)
    const loc = new URL(r.headers.location as string)
    const state = loc.searchParams.get('state') as string
    const setCookie = (r.headers['set-cookie'] as string[])[0] as string
    return { state, cookie: setCookie.split(';')[0] as string }
  }

  it('/login redirects to the issuer with a HttpOnly, Secure, SameSite=Lax, short-lived __Host- cookie', async () => {
    const r = await get('/login')
    assert.equal(r.status, 302)
    assert.ok((r.headers.location as string).startsWith(`${issuer.url}/auth?`))
    const cookies = r.headers['set-cookie'] as string[]
    assert.equal(cookies.length, 1)
    assert.match(cookies[0] as string, /^__Host-kg-login-[A-Za-z0-9_-]{16}=[A-Za-z0-9_-]{43}; Max-Age=300; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
    assert.equal(r.headers['cache-control'], 'no-store')
  })

  it('/callback shows the identity and both kubeconfigs, never the client secret; clears the cookie', async () => {
    rp.claims = { email: 'user01@example.com', groups: ['students', '<script>alert(1)</script>'], name: 'User 01' }
    const { state, cookie } = await startLogin({ 'accept-language': 'en' })
    const r = await get(`/callback?code=abc&state=${state}`, { cookie: `other=1; ${cookie}` })
    rp.claims = {}
    assert.equal(r.status, 200, r.body)
    assert.equal(r.headers['x-frame-options'], 'DENY')
    assert.equal(r.headers['cache-control'], 'no-store')
    const csp = r.headers['content-security-policy'] as string
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1]
    assert.ok(nonce !== undefined && r.body.includes(`<script nonce="${nonce}">`))
    assert.match((r.headers['set-cookie'] as string[])[0] as string, /^__Host-kg-login-[A-Za-z0-9_-]{16}=; Max-Age=0; Path=\/; HttpOnly; SameSite=Lax; Secure$/)
    assert.ok(r.body.includes('<code id="kg-user">user01@example.com</code>'))
    assert.ok(r.body.includes('<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>'))
    assert.ok(r.body.includes('<code id="kg-namespace">user01</code>'))
    assert.ok(!r.body.includes('very-secret-value'))
    const exec = /<textarea id="kubeconfig-exec"[^>]*>([^<]*)<\/textarea>/.exec(r.body)?.[1]
    const token = /<textarea id="kubeconfig-token"[^>]*>([^<]*)<\/textarea>/.exec(r.body)?.[1]
    assert.ok(exec !== undefined && token !== undefined)
    const execDoc = parse(exec.replace(/&quot;/g, '"').replace(/&#39;/g, '\'').replace(/&amp;/g, '&')) as Record<string, any>
    assert.equal(execDoc.clusters[0].cluster.server, PUBLIC)
    assert.equal(execDoc.contexts[0].context.namespace, 'user01')
    assert.ok(execDoc.users[0].user.exec.args.includes(`--oidc-issuer-url=${issuer.url}`))
    const tokenDoc = parse(token) as Record<string, any>
    const tok = tokenDoc.users[0].user.token as string
    assert.equal((await authenticator.authenticate(tok)).identity.user, 'user01@example.com')
    // The access code and state never reach kubegate's logs.
    assert.ok(!logLines.some((l) => l.includes(tok) || l.includes(state)))
  })

  it('a replayed callback gets the "expired or used" page, in the language asked at /login', async () => {
    const { state, cookie } = await startLogin({}, '/login?lang=ja')
    const ok = await get(`/callback?code=abc&state=${state}`, { cookie })
    assert.equal(ok.status, 200)
    assert.match(ok.body, /<html lang="ja">/)
    const again = await get(`/callback?code=abc&state=${state}`, { cookie, 'accept-language': 'ja' })
    assert.equal(again.status, 400)
    assert.ok(again.body.includes('data-failure="unknown_state"'))
    assert.match(again.body, /<html lang="ja">/)
    assert.equal(again.headers['x-frame-options'], 'DENY')
  })

  it('a callback without the cookie is refused (login CSRF)', async () => {
    const { state } = await startLogin()
    const r = await get(`/callback?code=abc&state=${state}`)
    assert.equal(r.status, 400)
    assert.ok(r.body.includes('data-failure="foreign_state"'))
  })

  it('other methods get 405', async () => {
    assert.equal((await get('/login', {}, 'POST')).status, 405)
    assert.equal((await get('/callback?state=x', {}, 'DELETE')).status, 405)
  })

  it('issuer down: 503 page with Retry-After', async () => {
    rp.discoveryDown = true
    const r = await get('/login', { 'accept-language': 'ja' })
    rp.discoveryDown = false
    assert.equal(r.status, 503)
    assert.equal(r.headers['retry-after'], '5')
    assert.ok(r.body.includes('data-failure="issuer_unavailable"'))
  })

  it('cookie parsing: first of each name, malformed pairs skipped', () => {
    assert.deepEqual([...parseCookies('a=1; b=2; a=3; junk; =x; c=')], [['a', '1'], ['b', '2'], ['c', '']])
  })
})

describe('login flow right after the issuer rotated its signing key', () => {
  // A cooldown far longer than any test: whatever the machine's speed, an unknown-kid refetch after a miss is
  // refused for the whole test, so only the login path's own refresh can find the new key.
  let v: OidcVerifier
  let auth: Authenticator
  const forgedKid = (): Promise<string> => issuer.token({}, { kid: 'forged-' + Math.random().toString(36).slice(2) })

  before(async () => {
    v = createOidcVerifier({
      issuerUrl: issuer.url, clientId: 'kubegate', ca: issuer.caPem, signingAlgs: ['RS256'], clockSkewSeconds: 60,
      jwksRefreshCooldownSeconds: 3600, jwksMaxAgeSeconds: 3600, jwksStaleAfterSeconds: 86400, maxPendingVerifications: 16,
    })
    await v.start()
    auth = createAuthenticator({
      verifier: v,
      mapClaims: createClaimMapper({
        issuerUrl: issuer.url, usernameClaim: 'email', groupsClaim: 'groups', requiredClaims: {}, allowReservedIdentities: false, maxGroups: 256,
      }),
      maxEntries: 100, maxTtlSeconds: 300, negativeTtlSeconds: 30, negativeMaxEntries: 100,
    })
  })
  after(async () => {
    issuer.setJwksMode('ok')
    await v.close()
  })

  function flowWith (refreshKeys: (() => Promise<boolean>) | undefined, authenticator: Pick<Authenticator, 'authenticate'> = auth): { rp: FakeRp, flow: LoginFlow } {
    const rp = fakeRp(issuer)
    const flow = createLoginFlow({
      relyingParty: rp, authenticator, refreshKeys, store: createMemoryLoginStateStore(), redirectUri: `${PUBLIC}/callback`, stateTtlSeconds: 600, cookiePrefix: 'kg-login-',
    })
    return { rp, flow }
  }

  async function login (flow: LoginFlow): Promise<string> {
    const a = await flow.begin()
    try {
      await flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]]))
      return 'ok'
    } catch (err) {
      assert.ok(err instanceof LoginError, String(err))
      assert.equal(err.statusCode, err.failure === 'try_again' ? 503 : err.statusCode)
      return err.failure
    }
  }

  it('a forged kid puts bearer refetches in cooldown; a login with the newly rotated key still succeeds after one refresh', async () => {
    await assert.rejects(Promise.resolve().then(async () => auth.authenticate(await forgedKid())), (e: unknown) => e instanceof KubegateError && e.failure === 'unknown_kid')
    await issuer.rotate()
    // The bearer path is in cooldown: the new key's token is refused there, without a fetch.
    const before = issuer.jwksFetches
    await assert.rejects(Promise.resolve().then(async () => auth.authenticate(await issuer.token({ sub: 'bearer' }))), (e: unknown) => e instanceof KubegateError && e.failure === 'unknown_kid')
    assert.equal(issuer.jwksFetches, before)
    const { flow } = flowWith(() => v.refreshKeys())
    assert.equal(await login(flow), 'ok')
    assert.equal(issuer.jwksFetches - before, 1, 'one refresh, from the login path')
  })

  it('without a key refresh, an unknown kid at the callback is try_again (503), never not_allowed', async () => {
    await issuer.rotate()
    const { flow } = flowWith(undefined)
    assert.equal(await login(flow), 'try_again')
  })

  it('issuer JWKS down during the callback: try_again (503), not not_allowed', async () => {
    await issuer.rotate()
    issuer.setJwksMode('fail')
    try {
      const { flow } = flowWith(() => v.refreshKeys())
      assert.equal(await login(flow), 'try_again')
    } finally {
      issuer.setJwksMode('ok')
    }
    const { flow } = flowWith(() => v.refreshKeys())
    assert.equal(await login(flow), 'ok', 'once the issuer is back the same login works')
  })

  it('busy verification is try_again; a final refusal is not_allowed; a bug stays an internal error', async () => {
    const busy = flowWith(undefined, { authenticate: () => { throw new KubegateError('KG_ERR_VERIFIER_BUSY', 'busy', { retryAfter: 1, failure: 'busy' }) } })
    assert.equal(await login(busy.flow), 'try_again')
    const refused = flowWith(undefined, { authenticate: () => { throw new KubegateError('KG_ERR_BAD_TOKEN', 'bad_audience', { failure: 'bad_audience' }) } })
    assert.equal(await login(refused.flow), 'not_allowed')
    const bug = flowWith(undefined, { authenticate: () => { throw new TypeError('boom') } })
    const a = await bug.flow.begin()
    await assert.rejects(bug.flow.complete(query(a.state), new Map([[a.cookieName, a.cookieValue]])), TypeError)
  })
})

/**
 * The security contract (docs/security.md) on the plain HTTP path, end to end: real kubegate on
 * loopback TLS, the Dex-shaped issuer, and the apiserver double that records every byte it receives.
 * "Zero upstream" = the double saw no new request and no new TCP connection.
 */
import assert from 'node:assert/strict'
import { generateKeyPair } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { headerLines } from '../../helpers/apiserver.js'
import { forgeEmbeddedKey, forgeHmacWithPublicKey, forgeJunkSignature, forgeNone } from '../../helpers/forge.js'
import { httpsRequest, type HttpsResult } from '../../helpers/https-get.js'
import { generateAttackerKey } from '../../helpers/issuer.js'
import { rawExchange } from '../../helpers/raw-http.js'
import { allLogLines, startStack, type Stack } from '../../helpers/stack.js'

let s: Stack
const minted: string[] = []
const now = (): number => Math.floor(Date.now() / 1000)

async function tok (overrides: Record<string, unknown> = {}): Promise<string> {
  const t = await s.issuer.token(overrides)
  minted.push(t)
  return t
}

function get (path: string, headers: readonly string[] = [], opts: { method?: string, body?: string } = {}): Promise<HttpsResult> {
  return httpsRequest(s.kg.url + path, { headers, ca: s.caPem, method: opts.method, body: opts.body, target: path })
}

function bearer (token: string): string[] {
  return ['Authorization', `Bearer ${token}`]
}

/** Runs `fn` and asserts the apiserver saw no request and no new connection meanwhile. */
async function zeroUpstream<T> (fn: () => Promise<T>): Promise<T> {
  const reqs = s.apiserver.requests.length
  const conns = s.apiserver.tcpConnections
  const out = await fn()
  await new Promise((r) => setTimeout(r, 20))
  assert.equal(s.apiserver.requests.length, reqs, 'a request reached the apiserver')
  assert.equal(s.apiserver.tcpConnections, conns, 'a connection was opened to the apiserver')
  return out
}

function assertStatus (r: HttpsResult, code: number, reason?: string): void {
  assert.equal(r.status, code, r.text)
  const body = r.json<{ kind: string, apiVersion: string, status: string, code: number, reason: string, message: string }>()
  assert.equal(body.kind, 'Status')
  assert.equal(body.apiVersion, 'v1')
  assert.equal(body.status, 'Failure')
  assert.equal(body.code, code)
  if (reason !== undefined) assert.equal(body.reason, reason)
  assert.match(r.headers['content-type'] ?? '', /application\/json/)
}

function lastUpstream (): (typeof s.apiserver.requests)[number] {
  const r = s.apiserver.requests.at(-1)
  assert.ok(r !== undefined, 'nothing reached the apiserver')
  return r
}

before(async () => {
  // Health probes (GET /readyz with kubegate's token) every hour, not every 10 s: "zero upstream" and
  // "exactly one request upstream" count every request the double sees, and on a loaded machine a
  // periodic probe could land inside a test's window.
  // The failed-authentication budget is off here: these tests count what the verifier answers each forged
  // token (several send 200 from this one address); the budget has its own tests in flood.test.ts.
  s = await startStack({
    config: { oidc: { jwksRefreshCooldownSeconds: 2 }, upstream: { healthCheckSeconds: 3600 }, server: { failedAuthPerAddress: { ratePerSecond: 0 } } },
  })
})
after(async () => {
  await s.close()
})

describe('token forgery', () => {
  it('no Authorization, or Bearer with an empty token: 401 Status, zero upstream', async () => {
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/namespaces/default/pods'), 401, 'Unauthorized')
      assertStatus(await get('/api/v1/namespaces/default/pods', ['Authorization', 'Bearer ']), 401, 'Unauthorized')
      assertStatus(await get('/api/v1/namespaces/default/pods', ['Authorization', 'Bearer']), 401)
    })
  })

  it('a valid token after two spaces (Bearer  <token>): 401, zero upstream, as the apiserver\'s single-space split', async () => {
    const t = await tok({ email: 'user01@example.com' })
    assert.equal((await get('/api/v1/namespaces/user01/pods', bearer(t))).status, 200, 'the token itself is good')
    await zeroUpstream(async () => {
      for (const header of [`Bearer  ${t}`, `Bearer   ${t}`, `bearer  ${t}`]) {
        assertStatus(await get('/api/v1/namespaces/user01/pods', ['Authorization', header]), 401, 'Unauthorized')
      }
    })
  })

  it('alg none in any casing, with empty and junk signatures: 401', async () => {
    const claims = s.issuer.claims()
    await zeroUpstream(async () => {
      for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
        assertStatus(await get('/api/v1/pods', bearer(forgeNone(claims, { alg }))), 401)
        assertStatus(await get('/api/v1/pods', bearer(forgeNone(claims, { alg, signature: 'AAAA' }))), 401)
      }
    })
  })

  it('HS256 signed with the issuer public key (PEM text and JWK JSON text) as HMAC secret: 401', async () => {
    const claims = s.issuer.claims()
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(forgeHmacWithPublicKey(claims, s.issuer.publicKeyPem(), { kid: s.issuer.currentKid }))), 401)
      assertStatus(await get('/api/v1/pods', bearer(forgeHmacWithPublicKey(claims, s.issuer.publicJwk(), { kid: s.issuer.currentKid }))), 401)
    })
  })

  it('a real kid signed by an attacker key: 401 and no JWKS refetch', async () => {
    const attacker = await generateAttackerKey()
    const fetches = s.issuer.jwksFetches
    const forged = await s.issuer.sign(s.issuer.claims(), { kid: s.issuer.currentKid, privateKey: attacker.privateKey })
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(forged)), 401)
      assertStatus(await get('/api/v1/pods', bearer(forgeJunkSignature(s.issuer.claims(), { alg: 'RS256', kid: s.issuer.currentKid }))), 401)
    })
    assert.equal(s.issuer.jwksFetches, fetches)
  })

  it('unknown kid: 401 with at most one JWKS fetch per cooldown, also under a burst', async () => {
    const attacker = await generateAttackerKey()
    // Sign first: on a loaded machine signing 200 RSA tokens can outlast the cooldown, and a second fetch
    // in a later cooldown window would be legitimate.
    const forged: string[] = []
    for (let i = 0; i < 200; i++) {
      forged.push(await s.issuer.sign(s.issuer.claims({ jti: String(i) }), { kid: `unknown-${i}`, privateKey: attacker.privateKey }))
    }
    await new Promise((r) => setTimeout(r, 2100)) // past the 2 s cooldown of earlier fetches
    const fetches = s.issuer.jwksFetches
    const started = Date.now()
    await zeroUpstream(async () => {
      const results = await Promise.all(forged.map((t) => get('/api/v1/pods', bearer(t))))
      for (const r of results) assertStatus(r, 401)
    })
    const windows = 1 + Math.floor((Date.now() - started) / 2000)
    assert.ok(s.issuer.jwksFetches - fetches <= windows, `fetched ${s.issuer.jwksFetches - fetches} times in ${windows} cooldown window(s)`)
    assert.ok(s.issuer.jwksFetches - fetches >= 1, 'an unknown kid should trigger one refetch')
  })

  it('embedded jwk, jku and x5u keys: 401 and nothing fetched', async () => {
    const attacker = await generateAttackerKey()
    const paths = s.issuer.paths.length
    await zeroUpstream(async () => {
      for (const kind of ['jwk', 'jku', 'x5u'] as const) {
        const forged = forgeEmbeddedKey(s.issuer.claims(), attacker.privateKey, { kind, url: `${s.issuer.url}/attacker-keys`, kid: s.issuer.currentKid })
        assertStatus(await get('/api/v1/pods', bearer(forged)), 401)
      }
    })
    assert.ok(!s.issuer.paths.slice(paths).some((p) => p.includes('attacker')), 'a key URL from a token was fetched')
  })

  it('wrong issuer variants: 401', async () => {
    await zeroUpstream(async () => {
      for (const iss of ['https://evil', s.issuer.url + '/', s.issuer.url.replace('https:', 'http:'), undefined]) {
        assertStatus(await get('/api/v1/pods', bearer(await tok({ iss }))), 401)
      }
    })
  })

  it('audience: other, missing and empty array refused; ["other","kubegate"] accepted', async () => {
    await zeroUpstream(async () => {
      for (const aud of ['other', undefined, []]) assertStatus(await get('/api/v1/pods', bearer(await tok({ aud }))), 401)
    })
    const r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ aud: ['other', 'kubegate'], email: 'user01@example.com' })))
    assert.equal(r.status, 200, r.text)
  })

  it('expiry and not-before with 60 s skew', async () => {
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(await tok({ exp: now() - 61 }))), 401)
      assertStatus(await get('/api/v1/pods', bearer(await tok({ exp: undefined }))), 401)
      assertStatus(await get('/api/v1/pods', bearer(await tok({ nbf: now() + 600 }))), 401)
    })
    const r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ exp: now() - 30, email: 'user01@example.com' })))
    assert.equal(r.status, 200, r.text)
  })

  it('algorithms outside the allow-list (PS256 with the issuer key, ES256): 401', async () => {
    const ec = await new Promise<import('node:crypto').KeyObject>((resolve, reject) =>
      generateKeyPair('ec', { namedCurve: 'P-256' }, (err, _pub, priv) => err === null ? resolve(priv) : reject(err)))
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(await s.issuer.sign(s.issuer.claims(), { alg: 'PS256' }))), 401)
      assertStatus(await get('/api/v1/pods', bearer(await s.issuer.sign(s.issuer.claims(), { alg: 'ES256', privateKey: ec }))), 401)
    })
  })
})

describe('claims', () => {
  it('email_verified false: 401; absent: accepted', async () => {
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(await tok({ email_verified: false }))), 401)
    })
    const r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ email_verified: undefined, email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.equal(lastUpstream().identity?.user, 'user01@example.com')
  })

  it('unusable email claims are 401, never an empty or injected Impersonate-User', async () => {
    await zeroUpstream(async () => {
      for (const email of [undefined, '', ' ', ' alice@example.com', 'alice@example.com ', 42, ['a@x'],
        'a@x\r\nImpersonate-Group: system:masters', 'a@x\nb', 'a@x\u0000', 'a@x,b@y']) {
        assertStatus(await get('/api/v1/pods', bearer(await tok({ email }))), 401)
      }
    })
  })

  it('system: users and groups are refused by default', async () => {
    await zeroUpstream(async () => {
      for (const o of [{ email: 'system:admin' }, { email: 'system:serviceaccount:kube-system:default' },
        { email: 'System:Admin' }, { groups: ['system:masters'] }, { groups: ['dev', 'SYSTEM:masters'] }]) {
        assertStatus(await get('/api/v1/pods', bearer(await tok(o))), 401)
      }
    })
  })

  it('groups: a string is one group, numbers and nested arrays are refused, missing means none', async () => {
    let r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ groups: 'team1', email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.deepEqual(headerLines(lastUpstream().rawHeaders, 'impersonate-group'), ['team1'])
    r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ groups: undefined, email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.deepEqual(headerLines(lastUpstream().rawHeaders, 'impersonate-group'), [])
    await zeroUpstream(async () => {
      for (const groups of [42, [['a']], [{ a: 1 }], [1]]) assertStatus(await get('/api/v1/pods', bearer(await tok({ groups }))), 401)
    })
  })

  it('a group value with a comma: 401, zero upstream (one group line must mean one group, as for the user)', async () => {
    await zeroUpstream(async () => {
      for (const groups of ['dev,system:masters', ['students', 'a,b'], [',']]) {
        assertStatus(await get('/api/v1/namespaces/user01/pods', bearer(await tok({ email: 'user01@example.com', groups }))), 401, 'Unauthorized')
      }
    })
  })

  it('257 groups are refused (never truncated); 256 become 256 separate header lines; duplicates once', async () => {
    const many = (n: number): string[] => Array.from({ length: n }, (_, i) => `g${i}`)
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', bearer(await tok({ groups: many(257) }))), 401)
    })
    let r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ groups: many(256), email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.deepEqual(headerLines(lastUpstream().rawHeaders, 'impersonate-group'), many(256))
    r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ groups: ['a', 'b', 'a', 'b'], email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.deepEqual(headerLines(lastUpstream().rawHeaders, 'impersonate-group'), ['a', 'b'])
  })

  it('non-ASCII names reach the apiserver as their exact UTF-8 bytes', async () => {
    const r = await get('/api/v1/namespaces/user01/pods', bearer(await tok({ groups: ['情報科学科', 'Müller-Gruppe'], email: 'user01@example.com' })))
    assert.equal(r.status, 200)
    assert.deepEqual(lastUpstream().identity?.groups.slice(0, 2), ['情報科学科', 'Müller-Gruppe'])
  })
})

describe('client headers', () => {
  it('identity headers kubegate never interprets, in any case or spelling, with a valid token: 403, zero upstream', async () => {
    const t = await tok({ email: 'user01@example.com' })
    await zeroUpstream(async () => {
      for (const h of ['Impersonate_User', 'Impersonate-Foo', 'X-Remote-User', 'x-remote-group', 'X_Remote_Extra-foo']) {
        assertStatus(await get('/api/v1/namespaces/user01/pods', [...bearer(t), h, 'system:admin']), 403, 'Forbidden')
      }
    })
  })

  // Behaviour change (issue 13, nested impersonation on by default): Impersonate-* are read as the apiserver
  // reads them. Nothing the client sent is forwarded either way; only kubegate's own SubjectAccessReview goes up.
  it('Impersonate-* in any case with a valid token: authorized by a SAR (403 here), or the apiserver\'s 500 without a user; nothing forwarded', async () => {
    const t = await tok({ email: 'user01@example.com' })
    const from = s.apiserver.requests.length
    for (const h of ['Impersonate-User', 'impersonate-user', 'IMPERSONATE-USER']) {
      const r = await get('/api/v1/namespaces/user01/pods', [...bearer(t), h, 'system:admin'])
      assertStatus(r, 403, 'Forbidden')
      assert.match(r.json<{ message: string }>().message, /^users "system:admin" is forbidden: User "user01@example\.com" cannot impersonate resource "users"/)
    }
    assert.deepEqual(s.apiserver.requests.slice(from).map((q) => q.url).filter((u) => !u.startsWith('/apis/authorization.k8s.io/v1/subjectaccessreviews')), [])
    await zeroUpstream(async () => {
      for (const h of ['impersonate-group', 'IMPERSONATE-UID', 'Impersonate-Extra-Scopes']) {
        assertStatus(await get('/api/v1/namespaces/user01/pods', [...bearer(t), h, 'system:admin']), 500, 'InternalError')
      }
    })
  })

  it('Impersonate-User without a token: 401 (authentication answers first)', async () => {
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', ['Impersonate-User', 'system:admin']), 401)
    })
  })

  it('Connection naming kubegate\'s headers cannot remove them', async () => {
    const r = await get('/api/v1/namespaces/user01/pods', [...bearer(await tok({ email: 'user01@example.com' })),
      'Connection', 'close, Impersonate-User, Impersonate-Group, Authorization, X-Forwarded-For'])
    assert.equal(r.status, 200, r.text)
    const up = lastUpstream()
    assert.deepEqual(headerLines(up.rawHeaders, 'impersonate-user'), ['user01@example.com'])
    assert.deepEqual(headerLines(up.rawHeaders, 'impersonate-group'), ['dev'])
    assert.equal(headerLines(up.rawHeaders, 'authorization').length, 1)
    assert.equal(up.identity?.user, 'user01@example.com')
    assert.deepEqual(headerLines(up.rawHeaders, 'x-forwarded-for'), ['127.0.0.1'])
  })

  it('two Authorization lines: 400; bearer/BEARER accepted; Basic: 401', async () => {
    const t = await tok({ email: 'user01@example.com' })
    await zeroUpstream(async () => {
      assertStatus(await get('/api/v1/pods', [...bearer(t), ...bearer(t)]), 400)
      assertStatus(await get('/api/v1/pods', ['Authorization', 'Basic dXNlcjpwYXNz']), 401)
    })
    for (const scheme of ['bearer', 'BEARER']) {
      const r = await get('/api/v1/namespaces/user01/pods', ['Authorization', `${scheme} ${t}`])
      assert.equal(r.status, 200)
    }
  })

  it('forwarding and credential headers from the client never reach the apiserver as sent', async () => {
    const t = await tok({ email: 'user01@example.com' })
    const r = await get('/api/v1/namespaces/user01/pods', [...bearer(t),
      'X-Forwarded-For', '1.2.3.4', 'X-Forwarded-Host', 'evil.example', 'X-Forwarded-Proto', 'http', 'Forwarded', 'for=1.2.3.4',
      'X-Real-IP', '1.2.3.4', 'Cookie', 'session=1', 'Proxy-Authorization', 'Basic eDp5', 'Audit-ID', 'forged',
      'X-Stream-Protocol-Version', 'v4.channel.k8s.io', 'X-Stream-Protocol-Version', 'v3.channel.k8s.io'])
    assert.equal(r.status, 200)
    const up = lastUpstream()
    assert.deepEqual(headerLines(up.rawHeaders, 'x-forwarded-for'), ['127.0.0.1'])
    for (const h of ['x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'cookie', 'proxy-authorization']) {
      assert.deepEqual(headerLines(up.rawHeaders, h), [], h)
    }
    assert.notEqual(headerLines(up.rawHeaders, 'audit-id')[0], 'forged')
    assert.deepEqual(headerLines(up.rawHeaders, 'authorization'), [`Bearer ${s.apiserver.token}`])
    // Repeated header lines the client sent on purpose stay separate lines, in order.
    assert.deepEqual(headerLines(up.rawHeaders, 'x-stream-protocol-version'), ['v4.channel.k8s.io', 'v3.channel.k8s.io'])
  })
})

describe('smuggling, connections, targets', () => {
  it('Content-Length with Transfer-Encoding carrying a smuggled request: 400, zero upstream', async () => {
    const t = await tok({ email: 'user01@example.com' })
    const smuggled = 'GET /api/v1/secrets HTTP/1.1\r\nHost: x\r\n\r\n'
    const body = `0\r\n\r\n${smuggled}`
    const r = await zeroUpstream(() => rawExchange(s.kg.url,
      `POST /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Length: ${body.length}\r\n` +
      `Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n${body}`, { ca: s.caPem }))
    assert.deepEqual(r.statuses, [400])
    assert.ok(r.closedByServer)
  })

  it('the strict parser: a header with whitespace before its colon, or an obsolete line fold, is 400 with zero upstream', async () => {
    // Node's lenient parser (insecureHTTPParser) would accept both; a proxy that reads such a header one way
    // while the next hop reads it another is how header smuggling starts.
    const t = await tok({ email: 'user01@example.com' })
    for (const head of [`Authorization : Bearer ${t}\r\n`, `Authorization: Bearer ${t}\r\nX-Note: a\r\n b\r\n`]) {
      const r = await zeroUpstream(() => rawExchange(s.kg.url, `GET /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\n${head}\r\n`, { ca: s.caPem }))
      assert.deepEqual(r.statuses, [400], JSON.stringify(head))
    }
  })

  it('pipelined: a valid request then one without a token on the same connection', async () => {
    const t = await tok({ email: 'user01@example.com' })
    const before = s.apiserver.requests.length
    const r = await rawExchange(s.kg.url,
      `GET /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\n\r\n` +
      'GET /api/v1/namespaces/user01/secrets HTTP/1.1\r\nHost: x\r\n\r\n', { ca: s.caPem })
    assert.deepEqual(r.statuses, [200, 401])
    assert.equal(s.apiserver.requests.length - before, 1)
  })

  it('absolute-form and //host targets: 400, nothing sent anywhere', async () => {
    const t = await tok({ email: 'user01@example.com' })
    await zeroUpstream(async () => {
      for (const target of ['https://attacker.example/api/v1/pods', '//attacker.example/api/v1/pods', 'http://127.0.0.1/api']) {
        const r = await rawExchange(s.kg.url, `GET ${target} HTTP/1.1\r\nHost: attacker.example\r\nAuthorization: Bearer ${t}\r\n\r\n`, { ca: s.caPem })
        assert.deepEqual(r.statuses, [400], target)
      }
    })
  })

  it('Host and X-Forwarded-Host never change the destination', async () => {
    const r = await get('/api/v1/namespaces/user01/pods', [...bearer(await tok({ email: 'user01@example.com' })),
      'Host', 'attacker.example', 'X-Forwarded-Host', 'attacker.example'])
    assert.equal(r.status, 200)
    assert.equal(lastUpstream().headers.host, new URL(s.apiserver.url).host)
  })

  it('CONNECT: refused', async () => {
    const t = await tok()
    await zeroUpstream(async () => {
      const r = await rawExchange(s.kg.url, `CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\nAuthorization: Bearer ${t}\r\n\r\n`, { ca: s.caPem })
      assert.deepEqual(r.statuses, [405])
    })
  })

  it('request lines other than HTTP/1.0 and 1.1: 400 or 505', async () => {
    await zeroUpstream(async () => {
      for (const v of ['HTTP/2.0', 'HTTP/0.9', 'HTTP/1.2', 'FOO/1.1']) {
        const r = await rawExchange(s.kg.url, `GET /api HTTP/${v.split('/')[1] as string}\r\nHost: x\r\n\r\n`.replace('HTTP/', v.startsWith('FOO') ? 'FOO/' : 'HTTP/'), { ca: s.caPem })
        assert.ok(r.statuses.length === 1 && [400, 505].includes(r.statuses[0] as number), `${v}: ${r.text.slice(0, 40)}`)
      }
    })
  })

  it('encoded paths are forwarded byte-for-byte', async () => {
    const t = await tok({ email: 'user01@example.com' })
    for (const path of ['/api/v1/namespaces/user01/pods/a%2Fb', '/api/v1/namespaces/user01/pods/%2e%2e', '/api/v1/namespaces/user01/pods/x;y']) {
      await get(path, bearer(t))
      assert.equal(lastUpstream().url, path)
    }
  })

  it('kubegate\'s own endpoints only match exactly: traversal variants without a token are 401, never forwarded', async () => {
    assert.equal((await get('/healthz')).status, 200)
    await zeroUpstream(async () => {
      for (const p of ['/healthz/../api/v1/secrets', '/healthz/%2e%2e/api/v1/secrets', '/readyz/..%2fapi/v1/secrets',
        '/livez/../../api/v1/namespaces/kube-system/secrets', '/%68ealthz', '/healthz/']) {
        assertStatus(await get(p), 401)
      }
    })
  })

  it('credentials in the query string: 400, never forwarded or logged', async () => {
    const t = await tok({ email: 'user01@example.com' })
    await zeroUpstream(async () => {
      assertStatus(await get(`/api/v1/pods?access_token=${t}`), 400)
      assertStatus(await get(`/api/v1/pods?watch=1&ID_TOKEN=${t}`, bearer(t)), 400)
    })
    await new Promise((r) => setTimeout(r, 50))
    assert.ok(!s.logs.some((l) => JSON.stringify(l).includes(t)), 'the token reached a log line')
  })
})

describe('limits', () => {
  it('a 1 MiB token: 431 without parsing', async () => {
    const huge = 'a'.repeat(1024 * 1024)
    await zeroUpstream(async () => {
      const r = await rawExchange(s.kg.url, `GET /api HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${huge}\r\n\r\n`, { ca: s.caPem })
      assert.deepEqual(r.statuses, [431])
    })
  })

  it('a flood of 200 forged tokens does not stop a valid user: every valid request answered 200, no forged one forwarded', async () => {
    const t = await tok({ email: 'user01@example.com' })
    assert.equal((await get('/api/v1/namespaces/user01/pods', bearer(t))).status, 200)
    const forged = Array.from({ length: 200 }, (_, i) => forgeJunkSignature(s.issuer.claims({ jti: `flood-${i}` }), { alg: 'RS256', kid: s.issuer.currentKid }))
    const before = s.apiserver.requests.length
    const [floodAnswers, validAnswers] = await Promise.all([
      Promise.all(forged.map((f) => get('/api/v1/namespaces/user01/pods', bearer(f)))),
      Promise.all(Array.from({ length: 20 }, () => get('/api/v1/namespaces/user01/pods', bearer(t)))),
    ])
    assert.deepEqual(validAnswers.map((r) => r.status), validAnswers.map(() => 200))
    // Refused: 401, or 503 (retry) when the verifier's pending queue is full; never forwarded.
    for (const r of floodAnswers) assert.ok(r.status === 401 || r.status === 503, String(r.status))
    assert.equal(s.apiserver.requests.length - before, validAnswers.length, 'only the valid requests reached the apiserver')
  })

  it('a 10 KiB token (over the 8 KiB cap, under the header limit): 401', async () => {
    await zeroUpstream(async () => {
      assertStatus(await get('/api', bearer('a'.repeat(10 * 1024))), 401)
    })
  })

  it('an unauthenticated POST with a huge Content-Length: 401 at once, body unread, connection closed', async () => {
    await zeroUpstream(async () => {
      const r = await rawExchange(s.kg.url,
        'POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"a":',
        { ca: s.caPem, idleMs: 3000 })
      assert.deepEqual(r.statuses, [401])
      assert.ok(r.closedByServer, 'connection left open to receive 10 GB')
      assert.ok(r.elapsedMs < 2500)
    })
  })

  it('Expect: 100-continue without a token: 401 and no 100 Continue', async () => {
    await zeroUpstream(async () => {
      const r = await rawExchange(s.kg.url,
        'POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n', { ca: s.caPem })
      assert.deepEqual(r.statuses, [401])
    })
  })

  it('Expect: 100-continue with a valid token: 100 after authentication, body forwarded', async () => {
    const t = await tok({ email: 'user01@example.com' })
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'continue-pod' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } })
    const r = await rawExchange(s.kg.url,
      `POST /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`, { ca: s.caPem, chunks: [], idleMs: 800 })
    assert.equal(r.statuses[0], undefined) // nothing sent yet: we have not written anything
    const r2 = await rawExchange(s.kg.url, '', {
      ca: s.caPem,
      chunks: [`POST /api/v1/namespaces/user01/pods HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${t}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`, body],
      chunkDelayMs: 300,
    })
    assert.equal(r2.statuses[0], 100)
    assert.equal(r2.statuses[1], 201)
    assert.equal(s.apiserver.getObject('pods', 'user01', 'continue-pod')?.metadata?.name, 'continue-pod')
  })

  it('slow headers are cut by the headers timeout while a valid user is still served', async () => {
    const slow = await startStack({ peers: { issuer: s.issuer, apiserver: s.apiserver }, config: { server: { headersTimeoutSeconds: 1 }, upstream: { healthCheckSeconds: 3600 } } })
    try {
      const pending = rawExchange(slow.kg.url, '', {
        ca: s.caPem,
        chunks: 'GET /api HTTP/1.1\r\nHost: x\r\nX-Slow: '.split('').concat(Array.from({ length: 20 }, () => 'a')),
        chunkDelayMs: 200,
        idleMs: 5000,
        timeoutMs: 8000,
      })
      const t = await tok({ email: 'user01@example.com' })
      const ok = await httpsRequest(slow.kg.url + '/api/v1/namespaces/user01/pods', { headers: bearer(t), ca: s.caPem })
      assert.equal(ok.status, 200)
      const r = await pending
      assert.ok(r.closedByServer, 'the slow client was never cut off')
      assert.ok(r.elapsedMs < 4500, `cut after ${r.elapsedMs} ms`)
    } finally {
      await slow.close()
    }
  })
})

describe('upstream', () => {
  it('upstream 302 is relayed, never followed', async () => {
    s.apiserver.redirect('/api/v1/namespaces/user01/pods/redirect-me', 'https://elsewhere.invalid/steal')
    try {
      const before = s.apiserver.requests.length
      const r = await get('/api/v1/namespaces/user01/pods/redirect-me', bearer(await tok({ email: 'user01@example.com' })))
      assert.equal(r.status, 302)
      assert.equal(r.headers.location, 'https://elsewhere.invalid/steal')
      assert.equal(s.apiserver.requests.length - before, 1)
    } finally {
      s.apiserver.clearOverrides()
    }
  })

  it('the apiserver\'s own errors pass through unchanged', async () => {
    const r = await get('/api/v1/nodes', bearer(await tok({ email: 'user01@example.com' })))
    assert.equal(r.status, 403)
    assert.equal(r.json<{ message: string }>().message,
      'nodes is forbidden: User "user01@example.com" cannot list resource "nodes" in API group "" at the cluster scope')
  })

  it('an apiserver certificate from an untrusted CA: 502 before any request bytes are written', async () => {
    const { createUntrustedPki } = await import('../../helpers/pki.js')
    const { startApiServer } = await import('../../helpers/apiserver.js')
    const other = await startApiServer({ pki: await createUntrustedPki() })
    const bad = await startStack({
      peers: { issuer: s.issuer, apiserver: other },
      config: { upstream: { server: other.url, caFile: s.apiserver.caFile, tokenFile: other.tokenFile } },
    })
    try {
      const r = await httpsRequest(bad.kg.url + '/api/v1/namespaces/user01/pods', { headers: bearer(await tok({ email: 'user01@example.com' })), ca: s.caPem })
      assert.equal(r.status, 502)
      assert.equal(r.json<{ kind: string }>().kind, 'Status')
      assert.ok(!r.text.includes('127.0.0.1'), 'upstream address leaked into the error body')
      assert.equal(other.requests.length, 0)
      // kubegate reached the port, and the TLS session never completed: nothing was written inside it.
      assert.ok(other.tcpConnections >= 1)
      assert.equal(other.connections, 0)
    } finally {
      await bad.close()
      await other.close()
    }
  })

  it('an apiserver certificate for another name (upstream.tlsServerName): 502, nothing forwarded', async () => {
    // The upstream TLS context is shared by every connection; the name is still checked per connection.
    const bad = await startStack({
      peers: { issuer: s.issuer, apiserver: s.apiserver },
      config: { upstream: { server: s.apiserver.url, caFile: s.apiserver.caFile, tokenFile: s.apiserver.tokenFile, tlsServerName: 'not-the-apiserver.example' } },
    })
    const before = s.apiserver.requests.length
    try {
      const r = await httpsRequest(bad.kg.url + '/api/v1/namespaces/user01/pods?watch=1', { headers: bearer(await tok({ email: 'user01@example.com' })), ca: s.caPem })
      assertStatus(r, 502)
      assert.equal(s.apiserver.requests.length, before)
    } finally {
      await bad.close()
    }
  })

  it('the apiserver unreachable: 502 Status', async () => {
    const dead = await startStack({
      peers: { issuer: s.issuer, apiserver: s.apiserver },
      config: { upstream: { server: 'https://127.0.0.1:1', caFile: s.apiserver.caFile, tokenFile: s.apiserver.tokenFile } },
    })
    try {
      const r = await httpsRequest(dead.kg.url + '/api', { headers: bearer(await tok()), ca: s.caPem })
      assertStatus(r, 502)
    } finally {
      await dead.close()
    }
  })
})

describe('keys', () => {
  it('rotation: a token signed by a new key triggers one fetch and is accepted; a removed key stops verifying', async () => {
    await new Promise((r) => setTimeout(r, 2100))
    const oldKid = s.issuer.currentKid
    const oldToken = await tok({ email: 'user01@example.com', jti: 'old' })
    assert.equal((await get('/api/v1/namespaces/user01/pods', bearer(oldToken))).status, 200)
    await s.issuer.rotate()
    const fetches = s.issuer.jwksFetches
    const newToken = await tok({ email: 'user01@example.com', jti: 'new' })
    assert.equal((await get('/api/v1/namespaces/user01/pods', bearer(newToken))).status, 200)
    assert.equal(s.issuer.jwksFetches - fetches, 1)
    s.issuer.removeKey(oldKid)
    await s.kg.verifier.refreshKeys()
    // Both a cached token and a never-seen one signed by the removed key are refused now.
    assertStatus(await get('/api/v1/namespaces/user01/pods', bearer(oldToken)), 401)
    const fresh = await s.issuer.token({ email: 'user01@example.com', jti: 'fresh' }, { kid: oldKid })
    minted.push(fresh)
    assertStatus(await get('/api/v1/namespaces/user01/pods', bearer(fresh)), 401)
  })

  it('JWKS endpoint down: cached keys keep working, an unknown kid is 503, the process stays up', async () => {
    await new Promise((r) => setTimeout(r, 2100))
    s.issuer.setJwksMode('fail')
    try {
      const good = await tok({ email: 'user01@example.com', jti: 'down-good' })
      assert.equal((await get('/api/v1/namespaces/user01/pods', bearer(good))).status, 200)
      const attacker = await generateAttackerKey()
      const forged = await s.issuer.sign(s.issuer.claims(), { kid: 'rotated-while-down', privateKey: attacker.privateKey })
      const r = await get('/api/v1/pods', bearer(forged))
      assert.ok(r.status === 503 || r.status === 401, String(r.status))
      assertStatus(r, r.status)
      assert.equal((await get('/healthz')).status, 200)
    } finally {
      s.issuer.setJwksMode('ok')
    }
  })
})

describe('prefixes neutralise reserved names', () => {
  let p: Stack
  before(async () => {
    p = await startStack({ config: { oidc: { usernamePrefix: 'oidc:', groupsPrefix: 'oidc:' }, log: { level: 'warn' } } })
  })
  after(async () => { await p?.close() })

  it('with prefix oidc:, a system: user and group are forwarded as oidc:system:...', async () => {
    const t = await p.issuer.token({ email: 'system:admin', groups: ['system:masters', 'dev'] })
    const r = await httpsRequest(p.kg.url + '/api/v1/namespaces/user01/pods', { headers: bearer(t), ca: p.caPem, target: '/api/v1/namespaces/user01/pods' })
    const up = p.apiserver.requests.at(-1)
    assert.ok(up !== undefined, `nothing forwarded (${r.status})`)
    assert.deepEqual(headerLines(up.rawHeaders, 'impersonate-user'), ['oidc:system:admin'])
    assert.deepEqual(headerLines(up.rawHeaders, 'impersonate-group'), ['oidc:system:masters', 'oidc:dev'])
  })
})

describe('leaks', () => {
  it('no minted token and not the service-account token appear in any log line', async () => {
    await new Promise((r) => setTimeout(r, 100))
    assert.ok(minted.length > 20)
    for (const line of allLogLines) {
      for (const t of minted) assert.ok(!line.includes(t), 'a user token reached the log')
      assert.ok(!line.includes(s.apiserver.token), 'the service-account token reached the log')
    }
  })
})

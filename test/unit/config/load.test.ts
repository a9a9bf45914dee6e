import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig, parseHostPort, type LoadOptions } from '../../../src/config/load.js'

const ISSUER = 'https://issuer.example.com/dex'
const BASE_YAML = `
oidc:
  issuerUrl: ${ISSUER}
  clientId: kubegate
`

function problemsOf (opts: LoadOptions): readonly string[] {
  try {
    loadConfig(opts)
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`)
    return err.problems
  }
  assert.fail('expected loadConfig to throw a ConfigError')
}

function hasProblem (problems: readonly string[], re: RegExp): boolean {
  return problems.some((p) => re.test(p))
}

describe('loadConfig: defaults', () => {
  it('fills every default', () => {
    const c = loadConfig({ yamlText: BASE_YAML })
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8443 })
    assert.equal(c.oidc.issuerUrl, ISSUER)
    assert.equal(c.oidc.clientId, 'kubegate')
    assert.equal(c.oidc.usernameClaim, 'sub')
    assert.equal(c.oidc.usernamePrefix, undefined)
    assert.equal(c.oidc.groupsClaim, undefined)
    assert.deepEqual(c.oidc.signingAlgs, ['RS256'])
    assert.deepEqual(c.oidc.requiredClaims, {})
    assert.equal(c.oidc.clockSkewSeconds, 60)
    assert.equal(c.oidc.allowReservedIdentities, false)
    assert.equal(c.oidc.maxGroups, 256)
    assert.equal(c.oidc.maxTokenBytes, 8192)
    assert.equal(c.oidc.jwksRefreshCooldownSeconds, 30)
    assert.equal(c.cache.maxEntries, 10000)
    assert.equal(c.cache.maxTtlSeconds, 300)
    assert.equal(c.cache.negativeTtlSeconds, 30)
    assert.equal(c.cache.maxPendingVerifications, 256)
    assert.equal(c.server.headersTimeoutSeconds, 20)
    assert.ok(c.server.headersTimeoutSeconds <= 20)
    assert.equal(c.upstream.timeoutSeconds, 60)
    assert.equal(c.log.level, 'info')
    assert.equal(c.tls.certFile, undefined)
  })

  it('requires issuer and client id, reporting both at once', () => {
    const problems = problemsOf({})
    assert.ok(hasProblem(problems, /^oidc\.issuerUrl: required$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.clientId: required$/), problems.join('\n'))
  })

  it('refuses a blank client id', () => {
    const problems = problemsOf({ yamlText: `oidc: {issuerUrl: ${ISSUER}, clientId: "   "}` })
    assert.ok(hasProblem(problems, /^oidc\.clientId: required/))
  })
})

describe('loadConfig: sources and precedence (flags > env > file > defaults)', () => {
  const yaml = BASE_YAML + '  clockSkewSeconds: 10\n  usernameClaim: email\n'

  it('file overrides defaults', () => {
    const c = loadConfig({ yamlText: yaml })
    assert.equal(c.oidc.clockSkewSeconds, 10)
    assert.equal(c.oidc.usernameClaim, 'email')
  })

  it('env overrides file', () => {
    const c = loadConfig({
      yamlText: yaml,
      env: { KUBEGATE_OIDC_ISSUER_URL: 'https://env.example.com', KUBEGATE_OIDC_CLOCK_SKEW_SECONDS: '20' },
    })
    assert.equal(c.oidc.issuerUrl, 'https://env.example.com')
    assert.equal(c.oidc.clockSkewSeconds, 20)
    assert.equal(c.oidc.usernameClaim, 'email')
  })

  it('an empty environment variable is ignored', () => {
    const c = loadConfig({ yamlText: yaml, env: { KUBEGATE_OIDC_ISSUER_URL: '' } })
    assert.equal(c.oidc.issuerUrl, ISSUER)
  })

  it('flags override env and file', () => {
    const c = loadConfig({
      yamlText: yaml,
      env: { KUBEGATE_OIDC_ISSUER_URL: 'https://env.example.com', KUBEGATE_OIDC_CLOCK_SKEW_SECONDS: '20' },
      argv: ['--oidc-issuer-url', 'https://flag.example.com', '--oidc-clock-skew-seconds=30'],
    })
    assert.equal(c.oidc.issuerUrl, 'https://flag.example.com')
    assert.equal(c.oidc.clockSkewSeconds, 30)
  })

  it('env alone is enough (no file)', () => {
    const c = loadConfig({ env: { KUBEGATE_OIDC_ISSUER_URL: ISSUER, KUBEGATE_OIDC_CLIENT_ID: 'kg' } })
    assert.equal(c.oidc.clientId, 'kg')
  })

  it('accepts --flag value and --flag=value alike', () => {
    const a = loadConfig({ argv: ['--oidc-issuer-url', ISSUER, '--oidc-client-id', 'kubegate', '--listen', '127.0.0.1:9000'] })
    const b = loadConfig({ argv: [`--oidc-issuer-url=${ISSUER}`, '--oidc-client-id=kubegate', '--listen=127.0.0.1:9000'] })
    assert.deepEqual(a, b)
    assert.deepEqual(a.listen, { host: '127.0.0.1', port: 9000 })
  })

  it('a value may contain "=" with --flag=value', () => {
    const c = loadConfig({ yamlText: BASE_YAML, argv: ['--oidc-required-claim=hd=example.com'] })
    assert.deepEqual({ ...c.oidc.requiredClaims }, { hd: 'example.com' })
  })

  it('bool flags: bare, before another flag, =true/=false, and with a separate value', () => {
    assert.equal(loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities'] }).oidc.allowReservedIdentities, true)
    assert.equal(loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities', '--oidc-groups-claim', 'groups'] }).oidc.allowReservedIdentities, true)
    const c = loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities', '--oidc-groups-claim', 'groups'] })
    assert.equal(c.oidc.groupsClaim, 'groups')
    assert.equal(loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities=false'] }).oidc.allowReservedIdentities, false)
    assert.equal(loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities=true'] }).oidc.allowReservedIdentities, true)
    assert.equal(loadConfig({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities', 'false'] }).oidc.allowReservedIdentities, false)
    assert.equal(loadConfig({ yamlText: BASE_YAML, env: { KUBEGATE_ALLOW_RESERVED_IDENTITIES: '1' } }).oidc.allowReservedIdentities, true)
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, argv: ['--allow-reserved-identities=yes'] }), /^oidc\.allowReservedIdentities .*must be true or false/))
  })

  it('repeatable --oidc-required-claim accumulates', () => {
    const c = loadConfig({ yamlText: BASE_YAML, argv: ['--oidc-required-claim', 'a=b', '--oidc-required-claim', 'c=d', '--oidc-required-claim=e=f'] })
    assert.deepEqual({ ...c.oidc.requiredClaims }, { a: 'b', c: 'd', e: 'f' })
  })

  it('required claims from env (comma-separated) are replaced by flags', () => {
    const env = { KUBEGATE_OIDC_REQUIRED_CLAIM: 'x=1,y=2' }
    assert.deepEqual({ ...loadConfig({ yamlText: BASE_YAML, env }).oidc.requiredClaims }, { x: '1', y: '2' })
    assert.deepEqual({ ...loadConfig({ yamlText: BASE_YAML, env, argv: ['--oidc-required-claim', 'a=b'] }).oidc.requiredClaims }, { a: 'b' })
  })

  it('required claims from YAML', () => {
    const c = loadConfig({ yamlText: BASE_YAML + '  requiredClaims:\n    hd: example.com\n' })
    assert.deepEqual({ ...c.oidc.requiredClaims }, { hd: 'example.com' })
  })

  it('a malformed --oidc-required-claim is a problem', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-required-claim', 'novalue'] }), /oidc\.requiredClaims.*key=value/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-required-claim', '=x'] }), /oidc\.requiredClaims.*key=value/))
  })

  it('list flags split on commas', () => {
    const c = loadConfig({ yamlText: BASE_YAML, argv: ['--oidc-signing-algs', 'RS256, ES256'] })
    assert.deepEqual([...c.oidc.signingAlgs], ['RS256', 'ES256'])
  })

  it('reads --config from a file, and KUBEGATE_CONFIG', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubegate-config-'))
    after(() => rmSync(dir, { recursive: true, force: true }))
    const file = join(dir, 'kubegate.yaml')
    writeFileSync(file, BASE_YAML + '  groupsClaim: groups\n')
    assert.equal(loadConfig({ argv: ['--config', file] }).oidc.groupsClaim, 'groups')
    assert.equal(loadConfig({ argv: [`--config=${file}`] }).oidc.groupsClaim, 'groups')
    assert.equal(loadConfig({ env: { KUBEGATE_CONFIG: file } }).oidc.groupsClaim, 'groups')
    assert.ok(hasProblem(problemsOf({ argv: ['--config', join(dir, 'missing.yaml')] }), /^--config: cannot read .*ENOENT/))
  })

  it('a flag needing a value at the end of argv is a problem', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-groups-claim'] }), /^--oidc-groups-claim: needs a value$/))
  })

  it('a non-integer int flag/env is a problem with its source', () => {
    const problems = problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-clock-skew-seconds', 'ten'], env: { KUBEGATE_OIDC_MAX_GROUPS: '1.5' } })
    assert.ok(hasProblem(problems, /^oidc\.clockSkewSeconds \(--oidc-clock-skew-seconds\): must be an integer$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.maxGroups \(KUBEGATE_OIDC_MAX_GROUPS\): must be an integer$/), problems.join('\n'))
  })
})

describe('loadConfig: strictness', () => {
  it('unknown YAML keys are errors, with their path', () => {
    const problems = problemsOf({ yamlText: BASE_YAML + '  issuerURL: https://typo.example\nfoo: 1\nserver:\n  headerTimeout: 5\n' })
    assert.ok(hasProblem(problems, /^oidc\.issuerURL: unknown key$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^foo: unknown key$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^server\.headerTimeout: unknown key$/), problems.join('\n'))
  })

  it('unknown flags are errors (with and without a value), and positional arguments too', () => {
    const problems = problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-issuer', 'x', '--no-such=1', 'stray'] })
    assert.ok(hasProblem(problems, /^--oidc-issuer: unknown flag$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^--no-such: unknown flag$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^stray: unexpected argument$/), problems.join('\n'))
    // the value of the unknown flag is not reported as a stray argument
    assert.ok(!hasProblem(problems, /^x: unexpected argument$/), problems.join('\n'))
  })

  it('a section given as a scalar is an error', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'cache: 5\n' }), /^cache: must be a mapping$/))
  })

  it('type errors in YAML name the path', () => {
    const problems = problemsOf({
      yamlText: BASE_YAML + '  clockSkewSeconds: "60"\n  allowReservedIdentities: "yes"\n  signingAlgs: [RS256, 5]\n  requiredClaims: {hd: 5}\n',
    })
    assert.ok(hasProblem(problems, /^oidc\.clockSkewSeconds: must be an integer$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.allowReservedIdentities: must be true or false$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.signingAlgs: must be a list/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.requiredClaims\.hd: must be a string$/), problems.join('\n'))
  })

  it('duplicate YAML keys are refused', () => {
    const problems = problemsOf({ yamlText: BASE_YAML + '  clientId: other\n' })
    assert.ok(problems.length > 0)
  })

  it('range checks apply', () => {
    const problems = problemsOf({ yamlText: BASE_YAML + '  clockSkewSeconds: 301\n  maxGroups: 0\n' })
    assert.ok(hasProblem(problems, /^oidc\.clockSkewSeconds: must be at most 300$/), problems.join('\n'))
    assert.ok(hasProblem(problems, /^oidc\.maxGroups: must be at least 1$/), problems.join('\n'))
  })

  it('choices apply', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'log: {level: loud}\n' }), /^log\.level: must be one of/))
  })

  it('reports every problem at once, each with its path, in one ConfigError', () => {
    const yaml = `
oidc:
  issuerUrl: http://issuer.example.com
  clientId: kubegate
  signingAlgs: [RS256, none, HS256]
  usernamePrefix: "System:"
  groupsPrefix: "system:"
  bogus: 1
tls:
  certFile: /tmp/cert.pem
upstream:
  server: http://10.0.0.1:6443
listen: "nonsense"
`
    let err: unknown
    try {
      loadConfig({ yamlText: yaml, argv: ['--unknown-flag'] })
    } catch (e) {
      err = e
    }
    assert.ok(err instanceof ConfigError)
    const p = err.problems
    const expected = [
      /^oidc\.issuerUrl: must use https$/,
      /^oidc\.signingAlgs: "none" is not allowed/,
      /^oidc\.signingAlgs: "HS256" is not allowed/,
      /^oidc\.usernamePrefix: must not start with "system:"$/,
      /^oidc\.groupsPrefix: must not start with "system:"$/,
      /^oidc\.bogus: unknown key$/,
      /^tls: certFile and privateKeyFile go together$/,
      /^upstream\.server: must use https$/,
      /^upstream\.tokenFile: required with upstream\.server$/,
      /^listen: must be host:port/,
      /^--unknown-flag: unknown flag$/,
    ]
    for (const re of expected) assert.ok(hasProblem(p, re), `missing ${String(re)} in:\n${p.join('\n')}`)
    for (const re of expected) assert.ok(re.test(p.find((x) => re.test(x)) ?? ''), String(re))
    // the message lists them all too
    assert.ok(err.message.includes('oidc.issuerUrl: must use https'))
    assert.ok(err.message.includes('upstream.tokenFile: required with upstream.server'))
  })
})

describe('loadConfig: semantic checks', () => {
  const withOidc = (extra: string): string => BASE_YAML + extra

  it('refuses an http issuer', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: `oidc: {issuerUrl: "http://issuer.example.com", clientId: k}` }), /^oidc\.issuerUrl: must use https$/))
  })

  it('refuses an issuer that is not a URL, or has a query, fragment or credentials', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: 'oidc: {issuerUrl: "not a url", clientId: k}' }), /^oidc\.issuerUrl: not a URL$/))
    assert.ok(hasProblem(problemsOf({ yamlText: 'oidc: {issuerUrl: "https://x.example/?a=b", clientId: k}' }), /^oidc\.issuerUrl: must not have a query/))
    assert.ok(hasProblem(problemsOf({ yamlText: 'oidc: {issuerUrl: "https://x.example/#f", clientId: k}' }), /^oidc\.issuerUrl: must not have a query/))
    assert.ok(hasProblem(problemsOf({ yamlText: 'oidc: {issuerUrl: "https://u:p@x.example/", clientId: k}' }), /^oidc\.issuerUrl: must not contain credentials$/))
  })

  for (const alg of ['none', 'None', 'HS256', 'HS512', 'rs256']) {
    it(`refuses signing algorithm ${alg} (YAML and flag)`, () => {
      assert.ok(hasProblem(problemsOf({ yamlText: withOidc(`  signingAlgs: [RS256, ${alg}]\n`) }), new RegExp(`^oidc\\.signingAlgs: "${alg}" is not allowed`)))
      assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, argv: [`--oidc-signing-algs=${alg}`] }), new RegExp(`^oidc\\.signingAlgs: "${alg}" is not allowed`)))
    })
  }

  it('accepts every supported asymmetric algorithm', () => {
    const c = loadConfig({ yamlText: withOidc('  signingAlgs: [RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA]\n') })
    assert.equal(c.oidc.signingAlgs.length, 10)
  })

  it('refuses an empty algorithm list', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: withOidc('  signingAlgs: []\n') }), /^oidc\.signingAlgs: must not be empty$/))
  })

  for (const prefix of ['system:', 'System:', 'SYSTEM:masters', 'sYsTeM:x']) {
    it(`refuses prefixes starting with system: in any case (${prefix})`, () => {
      const p1 = problemsOf({ yamlText: withOidc(`  usernamePrefix: "${prefix}"\n`) })
      assert.ok(hasProblem(p1, /^oidc\.usernamePrefix: must not start with "system:"$/), p1.join('\n'))
      const p2 = problemsOf({ yamlText: BASE_YAML, argv: ['--oidc-groups-prefix', prefix] })
      assert.ok(hasProblem(p2, /^oidc\.groupsPrefix: must not start with "system:"$/), p2.join('\n'))
    })
  }

  it('accepts ordinary prefixes and "-"', () => {
    const c = loadConfig({ yamlText: withOidc('  usernamePrefix: "-"\n  groupsPrefix: "oidc:"\n') })
    assert.equal(c.oidc.usernamePrefix, '-')
    assert.equal(c.oidc.groupsPrefix, 'oidc:')
  })

  it('refuses empty required-claim values', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: withOidc('  requiredClaims: {hd: ""}\n') }), /^oidc\.requiredClaims\.hd: empty value$/))
  })

  it('tls: certificate without key and key without certificate are refused; both together accepted', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'tls: {certFile: /c.pem}\n' }), /^tls: certFile and privateKeyFile go together$/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'tls: {privateKeyFile: /k.pem}\n' }), /^tls: certFile and privateKeyFile go together$/))
    const c = loadConfig({ yamlText: BASE_YAML + 'tls: {certFile: /c.pem, privateKeyFile: /k.pem}\n' })
    assert.equal(c.tls.certFile, '/c.pem')
  })

  it('upstream: server needs tokenFile, must be https, no path; not with kubeconfig; context needs kubeconfig', () => {
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'upstream: {server: "https://10.0.0.1:6443"}\n' }), /^upstream\.tokenFile: required with upstream\.server$/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'upstream: {server: "http://10.0.0.1:6443", tokenFile: /t}\n' }), /^upstream\.server: must use https$/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'upstream: {server: "https://10.0.0.1:6443/api", tokenFile: /t}\n' }), /^upstream\.server: must not have a path$/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'upstream: {server: "https://a:6443", tokenFile: /t, kubeconfig: /k}\n' }), /^upstream: set either server or kubeconfig/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'upstream: {context: c}\n' }), /^upstream\.context: needs upstream\.kubeconfig$/))
    const c = loadConfig({ yamlText: BASE_YAML + 'upstream: {server: "https://10.0.0.1:6443", tokenFile: /t}\n' })
    assert.equal(c.upstream.server, 'https://10.0.0.1:6443')
    assert.equal(c.upstream.tokenFile, '/t')
  })

  it('listen is parsed as host:port, IPv6 in brackets', () => {
    assert.deepEqual(loadConfig({ yamlText: BASE_YAML + 'listen: "[::1]:8443"\n' }).listen, { host: '::1', port: 8443 })
    assert.deepEqual(loadConfig({ yamlText: BASE_YAML, argv: ['--listen', ':9443'] }).listen, { host: '0.0.0.0', port: 9443 })
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'listen: "::1:8443"\n' }), /^listen: must be host:port/))
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML + 'listen: 8443\n' }), /^listen: must be host:port/))
  })
})

describe('loadConfig: result', () => {
  it('is deeply frozen', () => {
    const c = loadConfig({ yamlText: BASE_YAML + '  requiredClaims: {hd: x}\n' })
    assert.ok(Object.isFrozen(c))
    assert.ok(Object.isFrozen(c.oidc))
    assert.ok(Object.isFrozen(c.oidc.signingAlgs))
    assert.ok(Object.isFrozen(c.oidc.requiredClaims))
    assert.ok(Object.isFrozen(c.listen))
    assert.ok(Object.isFrozen(c.cache))
    assert.throws(() => { (c.oidc as { clientId: string }).clientId = 'evil' }, TypeError)
    assert.throws(() => { (c.oidc.signingAlgs as string[]).push('HS256') }, TypeError)
    assert.throws(() => { (c.oidc.requiredClaims as Record<string, string>).x = 'y' }, TypeError)
    assert.equal(c.oidc.clientId, 'kubegate')
  })

  it('overrides merge over the file', () => {
    const c = loadConfig({ yamlText: BASE_YAML, overrides: { oidc: { clientId: 'other' }, cache: { maxEntries: 5 } } })
    assert.equal(c.oidc.clientId, 'other')
    assert.equal(c.oidc.issuerUrl, ISSUER)
    assert.equal(c.cache.maxEntries, 5)
    assert.ok(hasProblem(problemsOf({ yamlText: BASE_YAML, overrides: { nope: 1 } }), /^nope: unknown key$/))
  })
})

describe('parseHostPort', () => {
  const ok: Array<[string, { host: string, port: number }]> = [
    ['127.0.0.1:8443', { host: '127.0.0.1', port: 8443 }],
    ['[::1]:8443', { host: '::1', port: 8443 }],
    ['[::]:443', { host: '::', port: 443 }],
    ['[2001:db8::1]:65535', { host: '2001:db8::1', port: 65535 }],
    ['localhost:0', { host: 'localhost', port: 0 }],
    [':8443', { host: '0.0.0.0', port: 8443 }],
  ]
  for (const [input, expected] of ok) {
    it(`parses ${input}`, () => assert.deepEqual(parseHostPort(input), expected))
  }
  for (const bad of ['8443', 'host', 'host:', 'host:65536', 'host:123456', '::1:8443', '[::1]', '[not-ip]:80', '[1.2.3.4]:80', 'a:b:80', 'host:-1', 'host:80 ', '']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.equal(parseHostPort(bad), undefined))
  }
})

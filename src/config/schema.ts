/**
 * The settings kubegate understands, as data: one table drives YAML validation, flags, environment
 * variables and docs/config.md, so the four can never disagree. YAML keys are the camelCase of the flags,
 * grouped by section; flags mirror kube-apiserver's `--oidc-*` names so admins can copy them over.
 */
export type FieldType = 'string' | 'int' | 'bool' | 'list' | 'map' | 'hostport' | 'duration'

export interface FieldSpec {
  readonly type: FieldType
  readonly doc: string
  readonly default?: string | number | boolean | readonly string[]
  /** Command-line flag without dashes. Derived from the path when absent (`oidc.issuerUrl` -> `oidc-issuer-url`). */
  readonly flag?: string
  readonly required?: boolean
  readonly min?: number
  readonly max?: number
  readonly choices?: readonly string[]
  /** The value names a file holding a secret (never the secret itself). */
  readonly secretFile?: boolean
}

export interface SectionSpec { readonly [key: string]: FieldSpec | SectionSpec }

export function isField (x: FieldSpec | SectionSpec): x is FieldSpec {
  return typeof (x as FieldSpec).type === 'string' && typeof (x as FieldSpec).doc === 'string'
}

export const SCHEMA = {
  listen: { type: 'hostport', default: '0.0.0.0:8443', doc: 'Address the proxy listens on (host:port).' },
  tls: {
    certFile: { type: 'string', doc: 'Serving certificate (PEM). Without it kubegate serves plain HTTP, for loopback testing only.' },
    privateKeyFile: { type: 'string', secretFile: true, doc: 'Private key of the serving certificate (PEM).' },
  },
  authentication: {
    configFile: {
      type: 'string',
      flag: 'authentication-config',
      doc: 'kube-apiserver `AuthenticationConfiguration` file (YAML or JSON; several issuers, CEL claim rules and mappings). Replaces the `oidc` issuer settings; reloaded on change.',
    },
  },
  oidc: {
    issuerUrl: { type: 'string', doc: 'Issuer URL; must be https and equal the `iss` claim exactly. Required unless `authentication.configFile` is set.' },
    clientId: { type: 'string', doc: 'Client id; tokens must carry it in `aud`. Required unless `authentication.configFile` is set.' },
    caFile: { type: 'string', doc: 'CA bundle for the issuer (default: the system roots).' },
    usernameClaim: { type: 'string', default: 'sub', doc: 'Claim used as the user name (Dex: `email`).' },
    usernamePrefix: {
      type: 'string',
      doc: 'Prefix for user names. Unset: `<issuer URL>#` unless the claim is `email`; `-` disables prefixing.',
    },
    groupsClaim: { type: 'string', doc: 'Claim holding the groups (a string or an array of strings).' },
    groupsPrefix: { type: 'string', doc: 'Prefix prepended to every group.' },
    uidClaim: { type: 'string', doc: 'Claim forwarded as `Impersonate-Uid` (off when unset).' },
    signingAlgs: { type: 'list', default: ['RS256'], doc: 'Accepted signing algorithms (RS*, PS*, ES*, EdDSA).' },
    requiredClaims: {
      type: 'map',
      flag: 'oidc-required-claim',
      doc: 'Claims that must be present with exactly this string value (flag: repeatable `key=value`).',
    },
    clockSkewSeconds: { type: 'int', default: 60, min: 0, max: 300, doc: 'Allowed clock skew for `exp`, `nbf`, `iat`.' },
    allowReservedIdentities: {
      type: 'bool',
      default: false,
      flag: 'allow-reserved-identities',
      doc: 'Accept `system:` user names and groups from tokens (off: such tokens get 401).',
    },
    maxGroups: { type: 'int', default: 256, min: 1, max: 4096, doc: 'More groups than this: the token is refused (never truncated).' },
    maxTokenBytes: { type: 'int', default: 8192, min: 1024, max: 14336, doc: 'Longer bearer tokens are refused unparsed.' },
    jwksRefreshCooldownSeconds: {
      type: 'int',
      default: 30,
      min: 1,
      max: 3600,
      doc: 'After a JWKS refetch for an unknown key that did not find it (or failed), further unknown-key refetches wait this long: a forged-kid flood costs one fetch per interval. Start-up and scheduled fetches and refetches that found a rotated key do not start it; sign-ins refetch at once (docs/operations.md, "Issuer key rotation").',
    },
    jwksMaxAgeSeconds: {
      type: 'int',
      default: 3600,
      min: 60,
      max: 86400,
      doc: 'Refresh the key set at least this often, even if the issuer allows caching longer.',
    },
    jwksStaleAfterSeconds: {
      type: 'int',
      default: 86400,
      min: 60,
      doc: 'Readiness fails when the key set could not be refreshed for this long.',
    },
  },
  upstream: {
    server: { type: 'string', doc: 'kube-apiserver URL (https). Unset with no kubeconfig: in-cluster configuration.' },
    caFile: { type: 'string', doc: 'CA bundle of the apiserver.' },
    tokenFile: { type: 'string', secretFile: true, doc: 'kubegate\'s service-account token; re-read as it rotates.' },
    tlsServerName: { type: 'string', doc: 'Server name to verify in the apiserver certificate (default: the URL host).' },
    kubeconfig: { type: 'string', flag: 'kubeconfig', doc: 'Take server, CA and token from this kubeconfig instead.' },
    context: { type: 'string', flag: 'context', doc: 'Context of the kubeconfig to use (default: current-context).' },
    tokenRefreshSeconds: { type: 'int', default: 60, min: 1, max: 3600, doc: 'How often the token file is re-read.' },
    timeoutSeconds: {
      type: 'int',
      default: 60,
      min: 1,
      max: 3600,
      doc: 'Time for the apiserver to send response headers (not applied to watches, logs -f and upgrades).',
    },
    maxConnections: { type: 'int', default: 128, min: 1, max: 10000, doc: 'Pooled keep-alive connections to the apiserver.' },
    healthCheckSeconds: {
      type: 'int',
      default: 10,
      min: 1,
      max: 3600,
      doc: 'How often readiness checks that the apiserver answers (`GET /readyz` with kubegate\'s token).',
    },
  },
  cache: {
    maxEntries: { type: 'int', default: 10000, min: 0, doc: 'Verified tokens kept in memory (LRU; 0 disables the cache).' },
    maxTtlSeconds: { type: 'int', default: 300, min: 1, doc: 'Longest time a verified token is trusted without re-verification.' },
    negativeTtlSeconds: { type: 'int', default: 30, min: 0, doc: 'How long a rejected token is remembered.' },
    negativeMaxEntries: { type: 'int', default: 10000, min: 0, doc: 'Rejected tokens remembered (LRU).' },
    maxPendingVerifications: {
      type: 'int',
      default: 256,
      min: 1,
      doc: 'Signature verifications queued at once; beyond this new tokens get 503 while cached ones keep working.',
    },
  },
  impersonation: {
    nested: {
      type: 'bool',
      default: true,
      flag: 'nested-impersonation',
      doc: 'Honour `kubectl --as`/`--as-group`/`--as-uid` and `Impersonate-Extra-*`: each value is authorized with a SubjectAccessReview for the verified user, as the apiserver does (off: such headers get 403).',
    },
    allowedCacheSeconds: { type: 'int', default: 10, min: 0, max: 300, doc: 'How long an allowed impersonation answer is reused (0: ask every time).' },
    deniedCacheSeconds: { type: 'int', default: 5, min: 0, max: 300, doc: 'How long a denied impersonation answer is reused (0: ask every time).' },
    cacheMaxEntries: { type: 'int', default: 10000, min: 0, doc: 'Impersonation answers kept, allowed and denied each (LRU).' },
    reviewTimeoutSeconds: {
      type: 'int',
      default: 10,
      min: 1,
      max: 120,
      doc: 'Time for the apiserver to answer a SubjectAccessReview or TokenReview; a request whose review does not come back in time fails (never forwarded).',
    },
  },
  tokenPassthrough: {
    enabled: {
      type: 'bool',
      default: false,
      flag: 'token-passthrough',
      doc: 'Bearer tokens not from the configured issuer (by their unverified `iss`), e.g. service-account tokens, are checked with a TokenReview and, if accepted, forwarded with the client\'s own token and nothing of kubegate\'s.',
    },
    audiences: {
      type: 'list',
      default: [],
      flag: 'token-passthrough-audiences',
      doc: 'Audiences the TokenReview asks for (default: the apiserver\'s own).',
    },
    cacheTtlSeconds: { type: 'int', default: 10, min: 0, max: 300, doc: 'How long an accepted token is reused without a new TokenReview (never past its `exp`).' },
    negativeCacheTtlSeconds: { type: 'int', default: 5, min: 0, max: 300, doc: 'How long a refused token is remembered.' },
    cacheMaxEntries: { type: 'int', default: 10000, min: 0, doc: 'Reviewed tokens kept, accepted and refused each (LRU).' },
  },
  server: {
    headersTimeoutSeconds: { type: 'int', default: 20, min: 1, max: 120, doc: 'Time a client has to send its request headers.' },
    requestTimeoutSeconds: { type: 'int', default: 300, min: 0, doc: 'Time a client has to send a whole request body (0: none).' },
    keepAliveTimeoutSeconds: { type: 'int', default: 65, min: 1, doc: 'Idle keep-alive connections are closed after this.' },
    upgradeIdleTimeoutSeconds: {
      type: 'int',
      default: 14400,
      min: 0,
      doc: 'Idle limit for exec/attach/port-forward sessions (0: none).',
    },
    maxUpgradesPerUser: { type: 'int', default: 32, min: 1, doc: 'Concurrent exec/attach/port-forward sessions per user.' },
    workers: {
      type: 'int',
      // The one place the default lives: 0 = one worker per available CPU, 1 = a single process.
      default: 0,
      min: 0,
      max: 64,
      doc: 'Processes serving requests on one shared listener (node:cluster). 0: one per CPU available to the process (os.availableParallelism(), bounded by the cgroup CPU limit, at most 64); 1: a single process, no supervisor. With more than one, revocations, rate limits and logins in progress are shared through the primary (or Redis), and the primary serves the metrics port for all of them (docs/operations.md, "Workers"). Token caches are per process.',
    },
    trustedProxies: {
      type: 'list',
      default: [],
      flag: 'trusted-proxies',
      doc: 'CIDRs of proxies whose `X-Forwarded-For` is believed for the client address in logs (default: none).',
    },
    failedAuthPerAddress: {
      ratePerSecond: {
        type: 'int',
        default: 10,
        min: 0,
        doc: 'Failed token verifications a client address (IPv6: its /64) earns back per second; beyond its burst, tokens the cache does not hold get 429 before any signature check (0: off). Cached tokens are never refused (docs/operations.md, "Forged-token floods").',
      },
      burst: {
        type: 'int',
        default: 100,
        min: 0,
        doc: 'Failed token verifications a client address may have in a row, counting verifications still running (0: off).',
      },
      maxAddresses: { type: 'int', default: 10000, min: 1, doc: 'Client addresses tracked at once; beyond it the least recently charged is forgotten.' },
      tarpitSeconds: {
        type: 'int',
        default: 1,
        min: 0,
        max: 30,
        doc: 'An address over its budget has each 429 answered after this delay (a tarpit: a flooding connection then sends one request per delay; 0: answer at once).',
      },
      maxTarpitted: { type: 'int', default: 1000, min: 1, doc: 'Answers held by the tarpit at once; beyond it they are sent at once.' },
    },
  },
  metrics: {
    listen: {
      type: 'hostport',
      default: '127.0.0.1:9090',
      flag: 'metrics-listen',
      doc: 'Address of the metrics and probe listener (`/metrics`, `/livez`, `/readyz`, `/healthz`).',
    },
  },
  audit: {
    file: { type: 'string', doc: 'Append one `audit.k8s.io/v1` Event per request (level Metadata) to this file (off when unset).' },
    maxBufferedEvents: {
      type: 'int',
      default: 10000,
      min: 1,
      doc: 'Audit events held in memory while the file is slow; beyond this events are dropped and counted.',
    },
  },
  shutdown: {
    delaySeconds: {
      type: 'int',
      default: 5,
      min: 0,
      max: 300,
      doc: 'After SIGTERM, keep accepting (with `/readyz` failing) this long so endpoints stop routing here.',
    },
    gracePeriodSeconds: {
      type: 'int',
      default: 30,
      min: 0,
      max: 3600,
      doc: 'Then wait this long for ordinary requests to finish before ending watches and exec sessions.',
    },
  },
  reload: {
    pollSeconds: {
      type: 'int',
      default: 10,
      min: 0,
      max: 3600,
      doc: 'Also check the config, certificate, CA and token files for changes this often (0: file events and SIGHUP only).',
    },
  },
  login: {
    publicUrl: {
      type: 'string',
      doc: 'kubegate\'s external URL (https, no path). Enables the login page (`/login`, `/callback`); also the kubeconfig server.',
    },
    clientSecretFile: {
      type: 'string',
      secretFile: true,
      doc: 'File holding the OIDC client secret for the login flow (public clients with PKCE need none).',
    },
    scopes: { type: 'list', default: ['openid', 'email', 'groups', 'profile'], doc: 'Scopes requested at login (add `offline_access` for refresh tokens).' },
    caFile: {
      type: 'string',
      doc: 'CA put in handed-out kubeconfigs (default: tls.certFile\'s chain; `-`: none, the serving certificate is publicly trusted).',
    },
    userNamespaceFromEmail: {
      type: 'bool',
      default: false,
      doc: 'Set the kubeconfig namespace from the email local part (`user01@example.com` -> `user01`), as `kubegate classroom` names them.',
    },
    includeClientSecret: {
      type: 'bool',
      default: false,
      doc: 'Put the client secret into the kubelogin kubeconfig (it is then shared with every user).',
    },
    staticTokenForm: { type: 'bool', default: true, doc: 'Also offer a kubeconfig holding the ID token itself (valid until it expires).' },
    stateTtlSeconds: { type: 'int', default: 600, min: 60, max: 3600, doc: 'How long a started login may take to come back to `/callback`.' },
  },
  store: {
    redisUrl: {
      type: 'string',
      flag: 'redis-url',
      doc: 'Shared state for several replicas: `redis://host:6379/0` or `rediss://` (TLS). Unset: in-memory (one replica).',
    },
    redisPasswordFile: { type: 'string', secretFile: true, flag: 'redis-password-file', doc: 'File holding the Redis (and Sentinel) password.' },
    redisCaFile: { type: 'string', flag: 'redis-ca-file', doc: 'CA bundle for `rediss://` (default: the system roots).' },
    redisSentinels: { type: 'list', flag: 'redis-sentinels', doc: 'Sentinel mode: `host:port` of each sentinel (the URL then gives only TLS, user and database).' },
    redisSentinelMaster: { type: 'string', flag: 'redis-sentinel-master', doc: 'Name of the master the sentinels monitor.' },
    keyPrefix: { type: 'string', default: 'kubegate:', doc: 'Prefix of every Redis key and channel (deployments may share a Redis).' },
    timeoutMilliseconds: { type: 'int', default: 250, min: 10, max: 5000, doc: 'No Redis command waits longer than this (none is on the request path).' },
  },
  revocation: {
    maxTokenLifetimeSeconds: {
      type: 'int',
      default: 86400,
      min: 60,
      doc: 'Longest ID token lifetime of the issuer (Dex: expiry.idTokens); a revocation is kept this long plus twice the clock skew.',
    },
    resyncSeconds: { type: 'int', default: 10, min: 1, max: 3600, doc: 'Full re-read of the revocation list from the store (besides pub/sub).' },
    maxStalenessSeconds: {
      type: 'int',
      default: 30,
      min: 2,
      max: 86400,
      doc: 'Fail closed: when the revocation list could not be confirmed for this long, authenticated requests get 503.',
    },
  },
  rateLimit: {
    requestsPerSecond: { type: 'int', default: 0, min: 0, doc: 'Per-user token bucket refill rate, shared by all replicas (0: no rate limit).' },
    burst: { type: 'int', default: 300, min: 1, doc: 'Per-user token bucket size (kubectl discovery alone can send ~100 requests at once).' },
    maxLongRunning: { type: 'int', default: 0, min: 0, doc: 'Concurrent watches, logs -f, exec and port-forward per user and replica (0: no cap).' },
    exemptGroups: { type: 'list', default: [], doc: 'Members of these groups are not rate limited (e.g. instructors).' },
    syncMilliseconds: { type: 'int', default: 100, min: 10, max: 5000, doc: 'Period of the background top-up of rate-limit leases from Redis (a lease running low is topped up at once); a top-up unanswered for longer (at least 100 ms) means the local share applies.' },
  },
  admin: {
    group: { type: 'string', flag: 'admin-group', doc: 'Members may use the admin API (/kubegate/v1/revocations). Unset: the API is off (404).' },
  },
  log: {
    level: {
      type: 'string',
      default: 'info',
      choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'],
      doc: 'Log level.',
    },
  },
} as const satisfies SectionSpec

export interface FlatField { path: string, flag: string, env: string, spec: FieldSpec }

function kebab (s: string): string {
  return s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

/** Every field with its path, flag and environment variable, in schema order. */
export function flattenSchema (schema: SectionSpec = SCHEMA): FlatField[] {
  const out: FlatField[] = []
  const walk = (node: SectionSpec, prefix: string[]): void => {
    for (const [key, child] of Object.entries(node)) {
      const path = [...prefix, key]
      if (isField(child)) {
        const flag = child.flag ?? path.map(kebab).join('-')
        out.push({ path: path.join('.'), flag, env: 'KUBEGATE_' + flag.toUpperCase().replace(/-/g, '_'), spec: child })
      } else {
        walk(child, path)
      }
    }
  }
  walk(schema, [])
  return out
}

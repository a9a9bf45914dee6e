import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import { isLongRunning } from '../k8s/request-info.js'
import type { AccessRecord } from '../server/handler.js'

/** What a store reports about itself (revocation lists, rate limits); see docs/operations.md. */
export type StoreState = 'connected' | 'degraded' | 'disconnected'
const STORE_STATES: readonly StoreState[] = ['connected', 'degraded', 'disconnected']

/**
 * Live views the collectors read at scrape time. Getters, not objects: the authenticator and verifier are
 * replaced on reload, and a scrape must read the ones serving now.
 */
export interface MetricsSources {
  readonly tokenCache: () => { readonly size: number, readonly stats: { hits: number, misses: number, negativeHits: number } }
  readonly jwks: () => { discovered: boolean, jwksLoaded: boolean, jwksLastSuccess: number, jwksKeys: number }
  readonly inflight: () => number
  readonly sessions: (kind: 'stream' | 'upgrade') => number
  /** Each readiness check's verdict right now (name -> passing). */
  readonly checks: () => ReadonlyArray<readonly [string, boolean]>
  readonly upstreamUp: () => boolean | undefined
  readonly storeState?: (() => StoreState) | undefined
}

export interface KubegateMetrics {
  readonly registry: Registry
  /** Per request, on the hot path: a few Map lookups and increments. */
  readonly onAccess: (r: AccessRecord) => void
  readonly onAuthFailure: (reason: string) => void
  readonly onJwksFetch: (ok: boolean) => void
  readonly onReload: (ok: boolean, at: number) => void
  readonly onAuditDropped: (n: number) => void
  /** A SubjectAccessReview the apiserver answered (or could not): nested impersonation. */
  readonly onSubjectAccessReview: (result: 'allowed' | 'denied' | 'error') => void
  /** A TokenReview the apiserver answered (or could not): token passthrough. */
  readonly onTokenReview: (result: 'authenticated' | 'unauthenticated' | 'error') => void
  /** Attaches the scrape-time collectors (called once the components exist). */
  readonly bind: (sources: MetricsSources) => void
}

export interface MetricsOptions {
  readonly version?: string
  /** process_* and nodejs_* metrics (CPU, memory, event loop lag, GC). Default true. */
  readonly processMetrics?: boolean
}

/**
 * Label values come only from closed lists: a client chooses the path, and an open label set would let
 * anyone with a token grow the registry without bound (and put object names, i.e. user data, in labels).
 */
export const KNOWN_RESOURCES: ReadonlySet<string> = new Set([
  // core/v1
  'bindings', 'componentstatuses', 'configmaps', 'endpoints', 'events', 'limitranges', 'namespaces', 'nodes',
  'persistentvolumeclaims', 'persistentvolumes', 'pods', 'podtemplates', 'replicationcontrollers', 'resourcequotas',
  'secrets', 'serviceaccounts', 'services',
  // apps, batch, autoscaling, policy
  'controllerrevisions', 'daemonsets', 'deployments', 'replicasets', 'statefulsets', 'cronjobs', 'jobs',
  'horizontalpodautoscalers', 'poddisruptionbudgets',
  // networking, discovery, storage, scheduling, coordination, node
  'ingressclasses', 'ingresses', 'networkpolicies', 'endpointslices', 'csidrivers', 'csinodes', 'csistoragecapacities',
  'storageclasses', 'volumeattachments', 'priorityclasses', 'leases', 'runtimeclasses',
  // rbac, authentication, authorization, certificates
  'clusterrolebindings', 'clusterroles', 'rolebindings', 'roles', 'selfsubjectreviews', 'tokenreviews',
  'localsubjectaccessreviews', 'selfsubjectaccessreviews', 'selfsubjectrulesreviews', 'subjectaccessreviews',
  'certificatesigningrequests',
  // extension points
  'customresourcedefinitions', 'apiservices', 'mutatingwebhookconfigurations', 'validatingwebhookconfigurations',
  'validatingadmissionpolicies', 'validatingadmissionpolicybindings', 'flowschemas', 'prioritylevelconfigurations',
])
export const KNOWN_SUBRESOURCES: ReadonlySet<string> = new Set([
  'attach', 'binding', 'ephemeralcontainers', 'eviction', 'exec', 'finalize', 'log', 'portforward', 'proxy', 'resize',
  'scale', 'status', 'token', 'approval',
])
/** Kubernetes verbs, plus the lower-case methods the apiserver uses as verbs for non-resource paths. */
export const KNOWN_VERBS: ReadonlySet<string> = new Set([
  'get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection', 'post', 'put', 'head', 'options',
])
/** `failure` strings of TokenFailure (src/oidc/jwt.ts), claims/map.ts, the handler and admissions. */
export const KNOWN_AUTH_OUTCOMES: ReadonlySet<string> = new Set([
  'success',
  // token
  'malformed', 'alg_not_allowed', 'forbidden_header', 'unknown_kid', 'bad_signature', 'bad_issuer', 'bad_audience',
  'expired', 'missing_exp', 'not_yet_valid', 'issued_in_future',
  // claims
  'bad_claims', 'reserved_identity',
  // request
  'no_token', 'token_too_large', 'duplicate_authorization', 'bad_subprotocol', 'identity_headers',
  // availability and admissions
  'issuer_unavailable', 'busy', 'revoked', 'rate_limited', 'too_many_streams',
  // nested impersonation and token passthrough
  'impersonation_denied', 'impersonation_invalid', 'token_review_refused', 'review_timeout', 'review_unreachable',
  'review_failed', 'review_not_permitted',
])

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

function bounded (set: ReadonlySet<string>, v: string): string {
  return v === '' || set.has(v) ? v : 'other'
}

interface MetricValue { labels: Record<string, string>, value: number, metricName?: string }
interface MetricSnapshot { name: string, help: string, type: string, values: MetricValue[], aggregator: string }

/** One counter series: a plain number. */
class CounterSeries {
  value = 0
  constructor (readonly labels: Record<string, string>) {}
  inc (): void { this.value++ }
}

/** One histogram series: per-bucket counts (non-cumulative; summed at scrape time), sum and count. */
class HistogramSeries {
  readonly counts: Float64Array
  sum = 0
  count = 0
  constructor (readonly labels: Record<string, string>, readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length)
  }

  observe (v: number): void {
    const b = this.bounds
    let i = 0
    while (i < b.length && v > (b[i] as number)) i++
    if (i < b.length) this.counts[i]++
    this.sum += v
    this.count++
  }
}

/**
 * Counters and histograms for the request path. prom-client's own validate and hash the label object
 * on every call (4–5 µs per request here for the four updates); these keep one plain object per series,
 * found through a Map, and do the formatting work at scrape time. They implement the metric interface the
 * Registry reads (`name`, `help`, `type`, `get()`), so the exposition is prom-client's.
 */
class FastCounter {
  readonly type = 'counter'
  readonly aggregator = 'sum'
  readonly #series = new Map<string, CounterSeries>()
  constructor (readonly name: string, readonly help: string, readonly labelNames: readonly string[]) {}
  series (key: string, values: readonly string[]): CounterSeries {
    let s = this.#series.get(key)
    if (s === undefined) {
      const labels: Record<string, string> = {}
      this.labelNames.forEach((n, i) => { labels[n] = values[i] as string })
      s = new CounterSeries(labels)
      this.#series.set(key, s)
    }
    return s
  }

  get (): MetricSnapshot {
    const values: MetricValue[] = []
    for (const s of this.#series.values()) values.push({ labels: s.labels, value: s.value })
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset (): void { this.#series.clear() }
}

class FastHistogram {
  readonly type = 'histogram'
  readonly aggregator = 'sum'
  readonly #series = new Map<string, HistogramSeries>()
  constructor (readonly name: string, readonly help: string, readonly labelName: string, readonly bounds: readonly number[]) {}
  series (value: string): HistogramSeries {
    let s = this.#series.get(value)
    if (s === undefined) {
      s = new HistogramSeries({ [this.labelName]: value }, this.bounds)
      this.#series.set(value, s)
    }
    return s
  }

  get (): MetricSnapshot {
    const values: MetricValue[] = []
    for (const s of this.#series.values()) {
      let acc = 0
      for (let i = 0; i < this.bounds.length; i++) {
        acc += s.counts[i] as number
        values.push({ labels: { ...s.labels, le: String(this.bounds[i]) }, value: acc, metricName: this.name + '_bucket' })
      }
      values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: this.name + '_bucket' })
      values.push({ labels: s.labels, value: s.sum, metricName: this.name + '_sum' })
      values.push({ labels: s.labels, value: s.count, metricName: this.name + '_count' })
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator }
  }

  reset (): void { this.#series.clear() }
}


/**
 * kubegate's metrics in a Registry of its own (never prom-client's global one: two instances in a process,
 * as in tests, must not share counters). Per-request work is Map lookups of pre-created label children and
 * increments; cache, JWKS, session and readiness figures are read at scrape time by collect callbacks.
 */
export function createMetrics (options: MetricsOptions = {}): KubegateMetrics {
  const registry = new Registry()
  const registers = [registry]
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry })

  new Gauge({ name: 'kubegate_build_info', help: 'Always 1; labels carry the version.', labelNames: ['version', 'node'], registers })
    .set({ version: options.version ?? 'unknown', node: process.version }, 1)

  const requests = new FastCounter('kubegate_requests_total',
    'Requests by HTTP status, Kubernetes verb, resource and subresource (unknown resources: "other").',
    ['code', 'verb', 'resource', 'subresource'])
  const duration = new FastHistogram('kubegate_request_duration_seconds',
    'Time from request to response end, excluding watches, logs -f and upgraded sessions.', 'verb', REQUEST_BUCKETS)
  const upstream = new FastHistogram('kubegate_upstream_duration_seconds',
    'Time from dispatch to the apiserver\'s response headers (or 101), every forwarded request.', 'verb', REQUEST_BUCKETS)
  const auth = new FastCounter('kubegate_authentication_total',
    'Authentication and admission outcomes: "success" or the refusal reason.', ['result'])
  for (const m of [requests, duration, upstream, auth]) registry.registerMetric(m as unknown as Metric)
  const jwksFetches = new Counter({
    name: 'kubegate_jwks_fetches_total',
    help: 'Fetches of the issuer\'s key set by result.',
    labelNames: ['result'],
    registers,
  })
  const reloads = new Counter({ name: 'kubegate_config_reloads_total', help: 'Configuration reloads by result.', labelNames: ['result'], registers })
  const lastReload = new Gauge({
    name: 'kubegate_config_last_reload_success_timestamp_seconds',
    help: 'When the configuration was last (re)loaded successfully.',
    registers,
  })
  lastReload.set(Date.now() / 1000)
  const auditDropped = new Counter({
    name: 'kubegate_audit_events_dropped_total',
    help: 'Audit events dropped because the audit file could not keep up.',
    registers,
  })
  const sars = new Counter({
    name: 'kubegate_subject_access_reviews_total',
    help: 'SubjectAccessReviews sent for nested impersonation, by answer: allowed, denied, error (cached answers not counted).',
    labelNames: ['result'],
    registers,
  })
  const tokenReviews = new Counter({
    name: 'kubegate_token_reviews_total',
    help: 'TokenReviews sent for token passthrough, by answer: authenticated, unauthenticated, error (cached answers not counted).',
    labelNames: ['result'],
    registers,
  })
  for (const r of ['allowed', 'denied', 'error']) sars.labels(r).inc(0)
  for (const r of ['authenticated', 'unauthenticated', 'error']) tokenReviews.labels(r).inc(0)
  for (const r of ['success', 'failure']) {
    jwksFetches.labels(r).inc(0)
    reloads.labels(r).inc(0)
  }
  const authSuccess = auth.series('success', ['success'])
  const jwksOk = jwksFetches.labels('success')
  const jwksFailed = jwksFetches.labels('failure')

  // The request counter's series by a short string key: one Map lookup per request.
  function requestSeries (code: number, verb: string, resource: string, sub: string): CounterSeries {
    return requests.series(code + ' ' + verb + ' ' + resource + ' ' + sub, [String(code), verb, resource, sub])
  }

  function onAccess (r: AccessRecord): void {
    const verb = KNOWN_VERBS.has(r.verb) ? r.verb : 'other'
    const resource = bounded(KNOWN_RESOURCES, r.resource)
    const sub = bounded(KNOWN_SUBRESOURCES, r.subresource)
    requestSeries(r.status, verb, resource, sub).inc()
    if (r.user !== undefined) authSuccess.inc()
    if (r.upstreamMs !== undefined) upstream.series(verb).observe(r.upstreamMs / 1000)
    // A watch's duration is how long someone kept a terminal open, not latency (the apiserver excludes them too).
    if (r.upgrade === undefined && verb !== 'watch' && !isLongRunning(r.uri)) {
      duration.series(verb).observe(r.durationMs / 1000)
    }
  }

  function onAuthFailure (reason: string): void {
    const v = KNOWN_AUTH_OUTCOMES.has(reason) ? reason : 'other'
    auth.series(v, [v]).inc()
  }

  function bind (src: MetricsSources): void {
    // Counters mirrored from the authenticator's plain-number stats: add the delta since the last scrape.
    // A reload replaces the authenticator (a fresh stats object); the new one is then counted from zero.
    const mirror = (name: string, help: string, field: 'hits' | 'misses' | 'negativeHits'): void => {
      let seen: object | undefined
      let last = 0
      new Counter({
        name,
        help,
        registers,
        collect () {
          const stats = src.tokenCache().stats
          if (stats !== seen) {
            seen = stats
            last = 0
          }
          const v = stats[field]
          if (v > last) this.inc(v - last)
          last = v
        },
      })
    }
    mirror('kubegate_token_cache_hits_total', 'Tokens found in the verified-token cache.', 'hits')
    mirror('kubegate_token_cache_misses_total', 'Tokens that had to be verified.', 'misses')
    mirror('kubegate_token_cache_negative_hits_total', 'Rejected tokens answered from the negative cache.', 'negativeHits')
    new Gauge({ name: 'kubegate_token_cache_entries', help: 'Verified tokens held in the cache.', registers,
      collect () { this.set(src.tokenCache().size) } })
    new Gauge({ name: 'kubegate_jwks_last_success_timestamp_seconds', help: 'When the issuer\'s key set was last fetched successfully (0: never).', registers,
      collect () { this.set(src.jwks().jwksLastSuccess / 1000) } })
    new Gauge({ name: 'kubegate_jwks_keys', help: 'Usable keys in the current key set.', registers,
      collect () { this.set(src.jwks().jwksKeys) } })
    new Gauge({ name: 'kubegate_oidc_discovery_done', help: '1 once OIDC discovery succeeded.', registers,
      collect () { this.set(src.jwks().discovered ? 1 : 0) } })
    new Gauge({ name: 'kubegate_inflight_requests', help: 'Requests being served now (watches and logs -f included, upgrades not).', registers,
      collect () { this.set(src.inflight()) } })
    new Gauge({ name: 'kubegate_open_watches', help: 'Open long-running HTTP streams (watch, logs -f).', registers,
      collect () { this.set(src.sessions('stream')) } })
    new Gauge({ name: 'kubegate_upgraded_connections', help: 'Open exec/attach/port-forward sessions.', registers,
      collect () { this.set(src.sessions('upgrade')) } })
    new Gauge({ name: 'kubegate_ready', help: '1 when /readyz passes.', registers,
      collect () { this.set(src.checks().every(([, ok]) => ok) ? 1 : 0) } })
    new Gauge({ name: 'kubegate_readiness_check', help: 'Each readiness check: 1 passing, 0 failing.', labelNames: ['check'], registers,
      collect () {
        this.reset()
        for (const [name, ok] of src.checks()) this.set({ check: name }, ok ? 1 : 0)
      } })
    new Gauge({ name: 'kubegate_upstream_up', help: 'Last apiserver health check: 1 answered, 0 failed (absent before the first).', registers,
      collect () {
        this.reset()
        const up = src.upstreamUp()
        if (up !== undefined) this.set(up ? 1 : 0)
      } })
    const store = src.storeState
    if (store !== undefined) {
      new Gauge({ name: 'kubegate_store_state', help: 'The store\'s state: 1 on the current one.', labelNames: ['state'], registers,
        collect () {
          const s = store()
          for (const st of STORE_STATES) this.set({ state: st }, st === s ? 1 : 0)
        } })
    }
  }

  return {
    registry,
    onAccess,
    onAuthFailure,
    onJwksFetch: (ok) => { (ok ? jwksOk : jwksFailed).inc() },
    onReload (ok, at) {
      reloads.labels(ok ? 'success' : 'failure').inc()
      if (ok) lastReload.set(at / 1000)
    },
    onAuditDropped: (n) => { auditDropped.inc(n) },
    onSubjectAccessReview: (result) => { sars.labels(result).inc() },
    onTokenReview: (result) => { tokenReviews.labels(result).inc() },
    bind,
  }
}

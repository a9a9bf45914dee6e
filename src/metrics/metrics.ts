// kubegate's Prometheus metrics: the API components report to, the request-path metrics and their closed label sets.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { isLongRunning } from '../k8s/request-info.js'
import type { AccessRecord } from '../log/access-record.js'
import { FastCounter, FastHistogram, registerFastMetric, type CounterSeries } from './fast-metrics.js'
import { registerScrapeCollectors, type MetricsSources } from './scrape-collectors.js'

export type { MetricsSources, StoreState } from './scrape-collectors.js'

export interface KubegateMetrics {
  readonly registry: Registry
  /** Per request, on the hot path: a few Map lookups and increments. */
  readonly onAccess: (r: AccessRecord) => void
  readonly onAuthFailure: (reason: string) => void
  /** A client address used up its failed-authentication budget (its next unknown tokens get 429). */
  readonly onFailedAuthBudgetExhausted: () => void
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
/** `failure` strings of TokenFailure (src/oidc/jwt.ts), src/authn (mapping, routing), the handler and admissions. */
export const KNOWN_AUTH_OUTCOMES: ReadonlySet<string> = new Set([
  'success',
  // token
  'malformed', 'alg_not_allowed', 'forbidden_header', 'unknown_kid', 'bad_signature', 'bad_issuer', 'bad_audience',
  // the token's iss is none of the configured issuers (src/authn/issuer-set.ts)
  'unknown_issuer',
  'expired', 'missing_exp', 'not_yet_valid', 'issued_in_future',
  // claims
  'bad_claims', 'reserved_identity',
  // request
  'no_token', 'token_too_large', 'duplicate_authorization', 'bad_subprotocol', 'identity_headers',
  // availability and admissions
  'issuer_unavailable', 'busy', 'revoked', 'rate_limited', 'too_many_streams', 'auth_failures_limited',
  // nested impersonation and token passthrough
  'impersonation_denied', 'impersonation_invalid', 'token_review_refused', 'review_timeout', 'review_unreachable',
  'review_failed', 'review_not_permitted', 'review_busy',
])

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

function bounded (set: ReadonlySet<string>, v: string): string {
  return v === '' || set.has(v) ? v : 'other'
}

/**
 * kubegate's metrics in a Registry of its own (never prom-client's global one: two instances in a process,
 * as in tests, must not share counters). Per-request work is Map lookups of pre-created label children and
 * increments; cache, JWKS, session and readiness figures are read at scrape time by collect callbacks.
 *
 * Adding a metric: something that happens (a request, a refusal, a reload) is an event metric: a method on
 * its concern's class below (or a new class built here), reached through an `onX` on {@link KubegateMetrics};
 * create its label children up front if it is on the request path. A figure a component already holds (a
 * size, a state) is read at scrape time: see scrape-collectors.ts. Label values come from closed lists only.
 * Metrics appear in the exposition in the order they are built.
 */
export function createMetrics (options: MetricsOptions = {}): KubegateMetrics {
  const registry = new Registry()
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry })
  registerBuildInfo(registry, options.version)
  const requests = new RequestMetrics(registry)
  const auth = new AuthenticationMetrics(registry)
  const config = new ConfigReloadMetrics(registry)
  const audit = new AuditMetrics(registry)
  const reviews = new ReviewMetrics(registry)
  return {
    registry,
    onAccess: (r) => {
      requests.record(r)
      if (r.user !== undefined) auth.succeeded()
    },
    onAuthFailure: (reason) => { auth.failed(reason) },
    onFailedAuthBudgetExhausted: () => { auth.addressOverBudget() },
    onJwksFetch: (ok) => { auth.jwksFetched(ok) },
    onReload: (ok, at) => { config.reloaded(ok, at) },
    onAuditDropped: (n) => { audit.dropped(n) },
    onSubjectAccessReview: (result) => { reviews.subjectAccessReview(result) },
    onTokenReview: (result) => { reviews.tokenReview(result) },
    bind: (sources) => { registerScrapeCollectors(registry, sources) },
  }
}

function registerBuildInfo (registry: Registry, version: string | undefined): void {
  new Gauge({ name: 'kubegate_build_info', help: 'Always 1; labels carry the version.', labelNames: ['version', 'node'], registers: [registry], aggregator: 'first' })
    .set({ version: version ?? 'unknown', node: process.version }, 1)
}

/** Requests by code, verb, resource and subresource, and the two latency histograms, from each access record. */
class RequestMetrics {
  readonly #requests = new FastCounter('kubegate_requests_total',
    'Requests by HTTP status, Kubernetes verb, resource and subresource (unknown resources: "other").',
    ['code', 'verb', 'resource', 'subresource'])

  readonly #duration = new FastHistogram('kubegate_request_duration_seconds',
    'Time from request to response end, excluding watches, logs -f and upgraded sessions.', 'verb', REQUEST_BUCKETS)

  readonly #upstream = new FastHistogram('kubegate_upstream_duration_seconds',
    'Time from dispatch to the apiserver\'s response headers (or 101), every forwarded request.', 'verb', REQUEST_BUCKETS)

  constructor (registry: Registry) {
    for (const metric of [this.#requests, this.#duration, this.#upstream]) registerFastMetric(registry, metric)
  }

  /** Per request, on the hot path: a few Map lookups and increments. */
  record (r: AccessRecord): void {
    const verb = KNOWN_VERBS.has(r.verb) ? r.verb : 'other'
    const resource = bounded(KNOWN_RESOURCES, r.resource)
    const sub = bounded(KNOWN_SUBRESOURCES, r.subresource)
    this.#requestSeries(r.status, verb, resource, sub).inc()
    if (r.upstreamMs !== undefined) this.#upstream.series(verb).observe(r.upstreamMs / 1000)
    // A watch's duration is how long someone kept a terminal open, not latency (the apiserver excludes them too).
    if (r.upgrade === undefined && verb !== 'watch' && !isLongRunning(r.uri)) {
      this.#duration.series(verb).observe(r.durationMs / 1000)
    }
  }

  // The request counter's series by a short string key: one Map lookup per request.
  #requestSeries (code: number, verb: string, resource: string, sub: string): CounterSeries {
    return this.#requests.series(code + ' ' + verb + ' ' + resource + ' ' + sub, [String(code), verb, resource, sub])
  }
}

/**
 * Authentication and admission outcomes by result, client addresses that ran out of failed-authentication
 * budget, and fetches of the issuer's key set.
 */
class AuthenticationMetrics {
  readonly #outcomes = new FastCounter('kubegate_authentication_total',
    'Authentication and admission outcomes: "success" or the refusal reason.', ['result'])

  readonly #overBudget: Counter

  readonly #success: CounterSeries
  readonly #jwksOk: Counter.Internal
  readonly #jwksFailed: Counter.Internal

  constructor (registry: Registry) {
    registerFastMetric(registry, this.#outcomes)
    this.#overBudget = new Counter({
      name: 'kubegate_failed_auth_budget_exhausted_total',
      help: 'Times a client address used up its failed-authentication budget (its refusals: kubegate_authentication_total{result="auth_failures_limited"}).',
      registers: [registry],
    })
    const jwksFetches = new Counter({
      name: 'kubegate_jwks_fetches_total',
      help: 'Fetches of the issuer\'s key set by result.',
      labelNames: ['result'],
      registers: [registry],
    })
    this.#success = this.#outcomes.series('success', ['success'])
    this.#jwksOk = jwksFetches.labels('success')
    this.#jwksFailed = jwksFetches.labels('failure')
    this.#jwksOk.inc(0)
    this.#jwksFailed.inc(0)
  }

  succeeded (): void { this.#success.inc() }

  failed (reason: string): void {
    const v = KNOWN_AUTH_OUTCOMES.has(reason) ? reason : 'other'
    this.#outcomes.series(v, [v]).inc()
  }

  addressOverBudget (): void { this.#overBudget.inc() }

  jwksFetched (ok: boolean): void { (ok ? this.#jwksOk : this.#jwksFailed).inc() }
}

/** Configuration reloads by result, and when the configuration was last loaded successfully. */
class ConfigReloadMetrics {
  readonly #reloads: Counter
  readonly #lastSuccess: Gauge

  constructor (registry: Registry) {
    this.#reloads = new Counter({ name: 'kubegate_config_reloads_total', help: 'Configuration reloads by result.', labelNames: ['result'], registers: [registry] })
    this.#lastSuccess = new Gauge({
      name: 'kubegate_config_last_reload_success_timestamp_seconds',
      help: 'When the configuration was last (re)loaded successfully.',
      registers: [registry],
      // Across workers: the one that has gone longest without a successful reload.
      aggregator: 'min',
    })
    this.#lastSuccess.set(Date.now() / 1000)
    for (const r of ['success', 'failure']) this.#reloads.labels(r).inc(0)
  }

  reloaded (ok: boolean, at: number): void {
    this.#reloads.labels(ok ? 'success' : 'failure').inc()
    if (ok) this.#lastSuccess.set(at / 1000)
  }
}

class AuditMetrics {
  readonly #dropped: Counter

  constructor (registry: Registry) {
    this.#dropped = new Counter({
      name: 'kubegate_audit_events_dropped_total',
      help: 'Audit events dropped because the audit file could not keep up.',
      registers: [registry],
    })
  }

  dropped (n: number): void { this.#dropped.inc(n) }
}

/** The reviews kubegate asks the apiserver for: SubjectAccessReviews (nested impersonation) and TokenReviews (passthrough). */
class ReviewMetrics {
  readonly #sars: Counter
  readonly #tokenReviews: Counter

  constructor (registry: Registry) {
    this.#sars = new Counter({
      name: 'kubegate_subject_access_reviews_total',
      help: 'SubjectAccessReviews sent for nested impersonation, by answer: allowed, denied, error (cached answers not counted).',
      labelNames: ['result'],
      registers: [registry],
    })
    this.#tokenReviews = new Counter({
      name: 'kubegate_token_reviews_total',
      help: 'TokenReviews sent for token passthrough, by answer: authenticated, unauthenticated, error (cached answers not counted).',
      labelNames: ['result'],
      registers: [registry],
    })
    for (const r of ['allowed', 'denied', 'error']) this.#sars.labels(r).inc(0)
    for (const r of ['authenticated', 'unauthenticated', 'error']) this.#tokenReviews.labels(r).inc(0)
  }

  subjectAccessReview (result: 'allowed' | 'denied' | 'error'): void {
    this.#sars.labels(result).inc()
  }

  tokenReview (result: 'authenticated' | 'unauthenticated' | 'error'): void {
    this.#tokenReviews.labels(result).inc()
  }
}

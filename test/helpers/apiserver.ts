/**
 * An in-process kube-apiserver double for kubegate's integration tests.
 *
 * It is faithful where kubegate's correctness is judged and minimal elsewhere:
 * - authentication: only `Authorization: Bearer <service-account token>` (one line) is accepted;
 *   anything else is the apiserver's exact 401 Status;
 * - impersonation: as WithImpersonation does it, read from the raw header lines (one value per
 *   line, UTF-8 bytes), with `system:authenticated` added — plus a strict mode that refuses a
 *   duplicated or empty Impersonate-User which the real server would quietly tolerate;
 * - authorization: RequestInfoFactory's verbs and a small RBAC table, answering the exact
 *   Forbidden Status kubectl prints;
 * - enough API for kubectl: version, discovery, pods/services/… CRUD with Tables, watch, logs,
 *   SelfSubjectReview (`kubectl auth whoami`), SelfSubjectAccessReview (`kubectl auth can-i`),
 *   exec/attach/cp over WebSocket v4/v5, and a byte-recording SPDY/3.1 acceptor.
 *
 * Every request is recorded raw (target, header lines, body, identity) for assertions.
 */
import { createServer } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createTempDir, getTestPki, issueServerCert } from './pki.js';
import type { TestPki } from './pki.js';
import { authenticate, headerLines, impersonate, SERVICE_ACCOUNT_IDENTITY } from './apiserver/identity.js';
import { anyOf, BUILTIN_BINDINGS, createRbac, IMPERSONATOR_BINDINGS, SERVICE_ACCOUNT_USER, TUTORIAL_BINDINGS } from './apiserver/rbac.js';
import type { Authorizer, Identity, RoleBinding } from './apiserver/rbac.js';
import { parseRequestInfo, queryBool } from './apiserver/request-info.js';
import type { RequestAttributes } from './apiserver/request-info.js';
import {
  apiGroupList, apiResourceList, apiVersions, CORE_RESOURCES, defaultObject, findResource, matchesLabelSelector,
  mergePatch, openApiV3Doc, openApiV3Root, toTable, wantsTable,
} from './apiserver/resources.js';
import type { KubeObject, ResourceDef } from './apiserver/resources.js';
import { ObjectStore } from './apiserver/store.js';
import type { WatchEventType } from './apiserver/store.js';
import {
  alreadyExists, badRequest, forbidden, methodNotAllowed, notFound, PATH_NOT_FOUND, status, statusText, UNAUTHORIZED,
} from './apiserver/status.js';
import type { StatusObject } from './apiserver/status.js';
import { rawResponse, sendBody, sendJson, writeRaw } from './apiserver/http-util.js';
import { createRemoteCommandHandler } from './apiserver/remote-command.js';
import type { ExecRecord, RecordedUpgrade } from './apiserver/remote-command.js';
import { PodFilesystems } from './apiserver/pod-fs.js';
import { ServiceAccountTokens } from './apiserver/sa-tokens.js';
import type { IssueOptions } from './apiserver/sa-tokens.js';
import { isReviewResource, subjectAccessReview, tokenReview } from './apiserver/reviews.js';

export type { Identity, Authorizer, RoleBinding, PolicyRule, Subject } from './apiserver/rbac.js';
export type { RequestAttributes } from './apiserver/request-info.js';
export type { KubeObject } from './apiserver/resources.js';
export type { ExecRecord, RecordedUpgrade } from './apiserver/remote-command.js';
export { createRbac, anyOf, TUTORIAL_BINDINGS, BUILTIN_BINDINGS, IMPERSONATOR_BINDINGS, SERVICE_ACCOUNT_USER } from './apiserver/rbac.js';
export { parseRequestInfo } from './apiserver/request-info.js';
export { forbidden, notFound, status, statusText, UNAUTHORIZED } from './apiserver/status.js';
export { headerLines, headerUtf8 } from './apiserver/identity.js';
export { SA_ISSUER, API_AUDIENCES } from './apiserver/sa-tokens.js';
export type { IssueOptions } from './apiserver/sa-tokens.js';

export interface RecordedRequest {
  method: string;
  /** The request target exactly as received (Node does not normalise it). */
  url: string;
  /** Header lines as received: [name, value, name, value, …], values Latin-1 decoded by Node. */
  rawHeaders: string[];
  /** Node's parsed view (repeated headers joined) — prefer rawHeaders in assertions. */
  headers: IncomingHttpHeaders;
  /** The full request body (empty for upgrades and for requests refused before it was read). */
  body: Buffer;
  /** The bearer token presented, if any (valid or not). */
  token?: string;
  /** The effective identity after impersonation; absent when authentication failed. */
  identity?: Identity;
  /** Who the token authenticated as, before impersonation (kubegate's service account, or an issued SA token's account). */
  requestor?: Identity;
  /** True when Impersonate-* headers changed the identity. */
  impersonated?: boolean;
  /** What the double answered (101 for accepted upgrades). */
  statusCode?: number;
  upgrade: boolean;
  /** Position of this request's connection in `connections` order (1-based). */
  connection: number;
  at: number;
}

export interface ApiServerOptions {
  pki?: TestPki;
  /** The service-account token to accept (default: a random one). */
  token?: string;
  /**
   * The cluster's RBAC beyond the built-ins (discovery and self reviews for everyone, the
   * service account's right to impersonate), which always apply. Default: the tutorial's
   * Role — user01@example.com may manage pods/services (and exec/attach/portforward/log) in
   * namespace user01. Giving `rbac` replaces the tutorial Role.
   */
  rbac?: Authorizer | readonly RoleBinding[];
  /**
   * Whether kubegate's service account may impersonate (default true). False makes every
   * impersonated request a Forbidden `cannot impersonate resource "users"`, as on a cluster
   * where kubegate's ClusterRole is missing.
   */
  serviceAccountMayImpersonate?: boolean;
  /**
   * Whether kubegate's service account may create SubjectAccessReviews and TokenReviews (default both
   * true; change later with setReviewRights), as the ClusterRole in deploy/ grants them.
   */
  reviewRights?: ReviewRights;
  /** See identity.ts: refuse duplicated or empty Impersonate-User (default true). */
  strictImpersonation?: boolean;
  /** Reported by /version (default v1.31.0): the /usr/bin/kubectl dispatcher picks its binary from it. */
  gitVersion?: string;
  /** Namespaces that exist at start (default default, kube-system, user01). */
  namespaces?: string[];
  /** Pods that exist at start, Running. */
  pods?: Array<{ namespace: string; name: string; containers?: string[] }>;
}

export interface ReviewRights {
  subjectAccessReviews?: boolean;
  tokenReviews?: boolean;
}

export interface ApiServerDouble {
  readonly url: string;
  readonly caPem: string;
  readonly caFile: string;
  /** The currently accepted service-account token. */
  readonly token: string;
  /** A file holding the current token (rewritten atomically by setToken, like a projected volume). */
  readonly tokenFile: string;
  /** Every bearer token presented, in order, valid or not. */
  readonly tokensSeen: string[];
  readonly requests: RecordedRequest[];
  /** TLS connections established ('secureConnection'). */
  readonly connections: number;
  /** TCP connections accepted (including ones whose TLS handshake failed). */
  readonly tcpConnections: number;
  /** TLS handshakes that failed (e.g. the client did not trust the certificate). */
  readonly tlsErrors: number;
  /** Upgrade requests that reached the double (accepted or refused). */
  readonly upgradeRequests: number;
  /** Upgrades the double accepted (101), with the bytes received afterwards. */
  readonly upgrades: RecordedUpgrade[];
  /** Commands run through exec/attach. */
  readonly execs: ExecRecord[];
  /** Open watch streams right now. */
  readonly openWatches: number;
  /** Accept `token` from now on; the old one is refused unless keepOld. Rewrites tokenFile. */
  setToken(token: string, opts?: { keepOld?: boolean }): Promise<void>;
  /**
   * A ServiceAccount token as `kubectl create token <name> -n <namespace>` returns it (a JWT signed by the
   * double); accepted for requests and by TokenReview until it expires or is revoked.
   */
  issueServiceAccountToken(namespace: string, name: string, opts?: IssueOptions): string;
  /** Revoke one issued token, or every token of a service account (as deleting it does). */
  revokeServiceAccountToken(token: string): void;
  deleteServiceAccount(namespace: string, name: string): void;
  /** Grant or take away kubegate's right to create SubjectAccessReviews / TokenReviews. */
  setReviewRights(rights: ReviewRights): void;
  /** Create (or replace) a Running pod. */
  addPod(namespace: string, name: string, opts?: { containers?: string[]; labels?: Record<string, string> }): KubeObject;
  getObject(resource: string, namespace: string, name: string): KubeObject | undefined;
  /** Apply a change to a pod and push it to open watches (ADDED/MODIFIED store it, DELETED removes it). */
  emitPodEvent(namespace: string, type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: KubeObject | string): KubeObject;
  /** Append a log line to one pod, or to every pod; open `log?follow=true` streams get it at once. */
  writeLog(line: string, pod?: { namespace: string; name: string }): void;
  /** Per-pod in-memory-on-disk filesystems used by exec (`cat`, `tar` for kubectl cp). */
  readonly podFiles: PodFilesystems;
  /** Answer `302 Location: <location>` to requests whose raw target starts with (or matches) `match`. */
  redirect(match: string | RegExp, location?: string): void;
  /** Hold requests whose raw target matches (default all) for `ms` before answering. */
  delay(ms: number, match?: string | RegExp): void;
  clearOverrides(): void;
  /** Forget recorded requests, upgrades, execs, counters and tokens seen (objects stay). */
  reset(): void;
  close(): Promise<void>;
}

interface Override {
  match: string | RegExp;
  redirect?: string;
  delayMs?: number;
}

function matches(m: string | RegExp, target: string): boolean {
  return typeof m === 'string' ? target.startsWith(m) : m.test(target);
}

function stripTypeMeta(o: KubeObject): KubeObject {
  const { apiVersion: _a, kind: _k, ...rest } = o;
  return rest as KubeObject;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Start the double on a random 127.0.0.1 port. Always `close()` it. */
export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServerDouble> {
  const pki = opts.pki ?? await getTestPki();
  const cert = await issueServerCert(pki, 'apiserver');
  const tokenDir = createTempDir('kubegate-sa-');
  const tokenFile = join(tokenDir, 'token');
  let token = opts.token ?? `sa-${randomBytes(24).toString('base64url')}`;
  const accepted = new Set<string>([token]);
  await writeFile(tokenFile, token, { mode: 0o600 });

  const custom: Authorizer = opts.rbac === undefined
    ? createRbac(TUTORIAL_BINDINGS)
    : typeof opts.rbac === 'function' ? opts.rbac : createRbac(opts.rbac);
  const builtin = opts.serviceAccountMayImpersonate === false ? BUILTIN_BINDINGS : [...BUILTIN_BINDINGS, ...IMPERSONATOR_BINDINGS];
  const reviewRights = { subjectAccessReviews: true, tokenReviews: true, ...opts.reviewRights };
  // kubegate's ClusterRole in deploy/: create on subjectaccessreviews (and tokenreviews with passthrough).
  const reviewer: Authorizer = (id, a) => id.user === SERVICE_ACCOUNT_USER && a.isResourceRequest && a.verb === 'create'
    && ((a.apiGroup === 'authorization.k8s.io' && a.resource === 'subjectaccessreviews' && reviewRights.subjectAccessReviews)
      || (a.apiGroup === 'authentication.k8s.io' && a.resource === 'tokenreviews' && reviewRights.tokenReviews));
  const authorize = anyOf(createRbac(builtin), reviewer, custom);
  const saTokens = new ServiceAccountTokens();
  const strict = opts.strictImpersonation ?? true;
  const gitVersion = opts.gitVersion ?? 'v1.31.0';

  const store = new ObjectStore();
  const podFiles = new PodFilesystems();
  const requests: RecordedRequest[] = [];
  const tokensSeen: string[] = [];
  let overrides: Override[] = [];
  let connections = 0;
  let tcpConnections = 0;
  let tlsErrors = 0;
  let upgradeRequests = 0;
  const sockets = new Set<Socket>();
  const connectionIds = new WeakMap<object, number>();
  const openStreams = new Set<ServerResponse>();
  const logs = new Map<string, string[]>();
  const logFollowers = new Map<string, Set<ServerResponse>>();
  let closed = false;
  let url = '';

  const podDef = CORE_RESOURCES.find((r) => r.name === 'pods') as ResourceDef;
  const nsDef = CORE_RESOURCES.find((r) => r.name === 'namespaces') as ResourceDef;
  const nodeDef = CORE_RESOURCES.find((r) => r.name === 'nodes') as ResourceDef;

  for (const ns of opts.namespaces ?? ['default', 'kube-system', 'user01']) {
    store.put(nsDef, defaultObject(nsDef, { metadata: { name: ns } }, '', store.nextResourceVersion()));
  }
  store.put(nodeDef, defaultObject(nodeDef, { metadata: { name: 'node-1' } }, '', store.nextResourceVersion()));

  const addPod: ApiServerDouble['addPod'] = (namespace, name, o = {}) => {
    const containers = (o.containers ?? ['main']).map((c) => ({ name: c, image: 'busybox' }));
    const pod = defaultObject(podDef, {
      metadata: { name, ...(o.labels ? { labels: o.labels } : {}) }, spec: { containers },
    }, namespace, store.nextResourceVersion());
    store.put(podDef, pod);
    return pod;
  };
  for (const p of opts.pods ?? []) addPod(p.namespace, p.name, { containers: p.containers });

  const podKey = (ns: string, name: string): string => `${ns}/${name}`;

  // ---- responses -----------------------------------------------------------------------------

  const reply = (res: ServerResponse, rec: RecordedRequest, code: number, obj: unknown): void => {
    rec.statusCode = code;
    sendJson(res, code, obj);
  };
  const replyStatus = (res: ServerResponse, rec: RecordedRequest, s: StatusObject): void => {
    rec.statusCode = s.code;
    sendBody(res, s.code, statusText(s), 'application/json');
  };

  // ---- handlers ------------------------------------------------------------------------------

  const hostPort = (): string => url.replace(/^https:\/\//, '');

  function handleNonResource(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, attrs: RequestAttributes): void {
    const p = attrs.path.replace(/\/+$/, '') || '/';
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      replyStatus(res, rec, methodNotAllowed());
      return;
    }
    if (p === '/version') {
      const m = /^v(\d+)\.(\d+)\./.exec(gitVersion);
      reply(res, rec, 200, {
        major: m?.[1] ?? '1', minor: m?.[2] ?? '31', emulationMajor: m?.[1] ?? '1', emulationMinor: m?.[2] ?? '31',
        minCompatibilityMajor: '1', minCompatibilityMinor: '30', gitVersion,
        gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
        buildDate: '2024-08-13T07:28:49Z', goVersion: 'go1.22.5', compiler: 'gc', platform: 'linux/amd64',
      });
      return;
    }
    if (p === '/healthz' || p === '/livez' || p === '/readyz') {
      rec.statusCode = 200;
      sendBody(res, 200, 'ok', 'text/plain; charset=utf-8');
      return;
    }
    if (p === '/api') {
      reply(res, rec, 200, apiVersions(hostPort()));
      return;
    }
    if (p === '/apis') {
      // Aggregated discovery (Accept ...;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList) is
      // optional for servers: client-go reads the response Content-Type and falls back to the
      // legacy documents when it is plain application/json, as here.
      reply(res, rec, 200, apiGroupList());
      return;
    }
    const gv = /^\/api\/(v1)$/.exec(p) ?? /^\/apis\/([^/]+\/[^/]+)$/.exec(p);
    if (gv?.[1] !== undefined) {
      const [g, v] = gv[1].includes('/') ? gv[1].split('/') as [string, string] : ['', gv[1]];
      const list = apiResourceList(g, v);
      if (list !== undefined) {
        reply(res, rec, 200, list);
        return;
      }
    }
    if (p === '/openapi/v3') {
      reply(res, rec, 200, openApiV3Root());
      return;
    }
    if (p.startsWith('/openapi/v3/')) {
      const doc = openApiV3Doc(p.slice('/openapi/v3/'.length));
      if (doc !== undefined) {
        reply(res, rec, 200, doc);
        return;
      }
    }
    // /openapi/v2 is absent on purpose (kubectl wants it as protobuf); see openApiV3Doc.
    replyStatus(res, rec, PATH_NOT_FOUND);
  }

  function parseBody(req: IncomingMessage, body: Buffer): unknown {
    const ct = (req.headers['content-type'] ?? '').toLowerCase();
    const text = body.toString('utf8');
    if (ct.includes('yaml')) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  }

  function handleReview(res: ServerResponse, rec: RecordedRequest, attrs: RequestAttributes, identity: Identity, body: unknown): void {
    const apiVersion = `${attrs.apiGroup}/${attrs.apiVersion}`;
    if (attrs.resource === 'selfsubjectreviews') {
      const userInfo: Record<string, unknown> = { username: identity.user };
      if (identity.uid !== undefined) userInfo.uid = identity.uid;
      userInfo.groups = identity.groups;
      if (identity.extra !== undefined) userInfo.extra = identity.extra;
      reply(res, rec, 201, {
        kind: 'SelfSubjectReview', apiVersion, metadata: { creationTimestamp: null }, status: { userInfo },
      });
      return;
    }
    // SelfSubjectAccessReview: answer from the same RBAC table (`kubectl auth can-i`).
    const spec = ((body as { spec?: Record<string, unknown> } | null)?.spec ?? {}) as {
      resourceAttributes?: Record<string, string>; nonResourceAttributes?: Record<string, string>;
    };
    const ra = spec.resourceAttributes;
    const nra = spec.nonResourceAttributes;
    const check: RequestAttributes = ra
      ? {
        verb: ra.verb ?? '', isResourceRequest: true, path: '', apiPrefix: '', apiGroup: ra.group ?? '',
        apiVersion: ra.version ?? '', namespace: ra.namespace ?? '', resource: ra.resource ?? '',
        subresource: ra.subresource ?? '', name: ra.name ?? '', parts: [],
      }
      : {
        verb: nra?.verb ?? '', isResourceRequest: false, path: nra?.path ?? '', apiPrefix: '', apiGroup: '',
        apiVersion: '', namespace: '', resource: '', subresource: '', name: '', parts: [],
      };
    const allowed = authorize(identity, check);
    reply(res, rec, 201, {
      kind: 'SelfSubjectAccessReview', apiVersion, metadata: { creationTimestamp: null }, spec,
      status: allowed ? { allowed: true, reason: 'RBAC: allowed by apiserver double' } : { allowed: false },
    });
  }

  function handleAccessOrTokenReview(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, attrs: RequestAttributes): void {
    if (attrs.verb !== 'create') {
      replyStatus(res, rec, methodNotAllowed());
      return;
    }
    let parsed: unknown;
    try {
      parsed = parseBody(req, rec.body);
    } catch (e) {
      replyStatus(res, rec, badRequest(`the object provided is unrecognized: ${(e as Error).message}`));
      return;
    }
    if (attrs.resource === 'tokenreviews') {
      const r = tokenReview(parsed, saTokens);
      reply(res, rec, r.code, r.object);
      return;
    }
    const r = subjectAccessReview(parsed, authorize);
    if ('message' in r) replyStatus(res, rec, status(400, 'BadRequest', r.message));
    else reply(res, rec, r.code, r.object);
  }

  function handleLog(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, attrs: RequestAttributes): void {
    const pod = store.get(podDef, attrs.namespace, attrs.name);
    if (pod === undefined) {
      replyStatus(res, rec, notFound('', 'pods', attrs.name));
      return;
    }
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const key = podKey(attrs.namespace, attrs.name);
    const lines = logs.get(key) ?? [];
    const tail = q.get('tailLines');
    const shown = tail !== null ? lines.slice(Math.max(0, lines.length - Number(tail))) : lines;
    rec.statusCode = 200;
    if (!queryBool(q.getAll('follow'))) {
      sendBody(res, 200, shown.join(''), 'text/plain');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    res.flushHeaders();
    for (const l of shown) res.write(l);
    let set = logFollowers.get(key);
    if (set === undefined) {
      set = new Set();
      logFollowers.set(key, set);
    }
    set.add(res);
    openStreams.add(res);
    res.on('close', () => {
      set.delete(res);
      openStreams.delete(res);
    });
  }

  function handleWatch(req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, def: ResourceDef, attrs: RequestAttributes): void {
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const table = wantsTable(req.headers.accept);
    const includeObject = q.get('includeObject');
    const labelSelector = q.get('labelSelector');
    rec.statusCode = 200;
    res.writeHead(200, {
      'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private',
    });
    // Send the status line and headers now: clients (kubectl -w, informers) wait for them.
    res.flushHeaders();
    let first = true;
    const send = (type: WatchEventType, obj: KubeObject): void => {
      if (!matchesLabelSelector(labelSelector, obj.metadata.labels)) return;
      const object = table ? toTable(def, [obj], obj.metadata.resourceVersion ?? '', { includeObject, withColumns: first }) : obj;
      first = false;
      // One JSON document per event, written at once: Node sends each write as its own chunk.
      res.write(`${JSON.stringify({ type, object })}\n`);
    };
    const unwatch = store.watch({ def, namespace: attrs.namespace, name: attrs.name, labelSelector, send });
    openStreams.add(res);
    const rv = q.get('resourceVersion');
    // Without a resourceVersion (or "0") a watch starts with synthetic ADDED events for what exists.
    if (rv === null || rv === '' || rv === '0') {
      for (const o of store.list(def, attrs.namespace)) if (attrs.name === '' || o.metadata.name === attrs.name) send('ADDED', o);
    }
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    // Bounded even when the client gives no timeout: the real apiserver ends watches after its
    // --min-request-timeout (1800 s) with jitter; 30 minutes is far beyond any test.
    const limitMs = timeoutSeconds > 0 ? timeoutSeconds * 1000 : 30 * 60 * 1000;
    const timer = setTimeout(() => res.end(), limitMs);
    timer.unref();
    res.on('close', () => {
      clearTimeout(timer);
      unwatch();
      openStreams.delete(res);
    });
  }

  async function handleResource(
    req: IncomingMessage, res: ServerResponse, rec: RecordedRequest, attrs: RequestAttributes, identity: Identity, body: Buffer,
  ): Promise<void> {
    const def = findResource(attrs.apiGroup, attrs.apiVersion, attrs.resource);
    if (def === undefined || (attrs.namespace !== '' && !def.namespaced && attrs.resource !== 'namespaces')) {
      replyStatus(res, rec, PATH_NOT_FOUND);
      return;
    }
    if (def.kind === 'SelfSubjectReview' || def.kind === 'SelfSubjectAccessReview') {
      if (attrs.verb !== 'create') {
        replyStatus(res, rec, methodNotAllowed());
        return;
      }
      let parsed: unknown = {};
      try { parsed = body.length > 0 ? parseBody(req, body) : {}; } catch { /* reviews ignore bad bodies */ }
      handleReview(res, rec, attrs, identity, parsed);
      return;
    }
    const ns = def.namespaced ? attrs.namespace : '';
    if (attrs.subresource !== '') {
      if (def.name === 'pods' && attrs.subresource === 'log' && attrs.verb === 'get') {
        handleLog(req, res, rec, attrs);
        return;
      }
      if (def.name === 'pods' && ['exec', 'attach', 'portforward'].includes(attrs.subresource)) {
        // Without an Upgrade header there is nothing to stream: the apiserver's answer.
        replyStatus(res, rec, status(400, 'BadRequest', 'Upgrade request required'));
        return;
      }
      if (attrs.subresource === 'status' && attrs.verb === 'get') {
        const o = store.get(def, ns, attrs.name);
        if (o === undefined) replyStatus(res, rec, notFound(def.group, def.name, attrs.name));
        else reply(res, rec, 200, o);
        return;
      }
      replyStatus(res, rec, PATH_NOT_FOUND);
      return;
    }
    const q = new URL(req.url ?? '/', 'https://x').searchParams;
    const dryRun = q.getAll('dryRun').includes('All');
    switch (attrs.verb) {
      case 'list': {
        const items = store.list(def, ns).filter((o) => matchesLabelSelector(q.get('labelSelector'), o.metadata.labels)
          && (attrs.name === '' || o.metadata.name === attrs.name));
        if (wantsTable(req.headers.accept)) reply(res, rec, 200, toTable(def, items, store.resourceVersion, { includeObject: q.get('includeObject') }));
        else {
          reply(res, rec, 200, {
            kind: `${def.kind}List`, apiVersion: def.group === '' ? def.version : `${def.group}/${def.version}`,
            metadata: { resourceVersion: store.resourceVersion }, items: items.map(stripTypeMeta),
          });
        }
        return;
      }
      case 'watch':
        handleWatch(req, res, rec, def, { ...attrs, namespace: ns });
        return;
      case 'get': {
        const o = store.get(def, ns, attrs.name);
        if (o === undefined) replyStatus(res, rec, notFound(def.group, def.name, attrs.name));
        else if (wantsTable(req.headers.accept)) reply(res, rec, 200, toTable(def, [o], o.metadata.resourceVersion ?? '', { includeObject: q.get('includeObject') }));
        else reply(res, rec, 200, o);
        return;
      }
      case 'create':
      case 'update': {
        let obj: KubeObject;
        try {
          obj = parseBody(req, body) as KubeObject;
          if (obj === null || typeof obj !== 'object' || typeof obj.metadata !== 'object' || obj.metadata === null) throw new Error('no metadata');
        } catch (e) {
          replyStatus(res, rec, badRequest(`the object provided is unrecognized: ${(e as Error).message}`));
          return;
        }
        if (def.namespaced && obj.metadata.namespace !== undefined && obj.metadata.namespace !== ns) {
          replyStatus(res, rec, badRequest('the namespace of the provided object does not match the namespace sent on the request'));
          return;
        }
        const name = attrs.verb === 'update' ? attrs.name : obj.metadata.name ?? '';
        if (name === '' && !obj.metadata.generateName) {
          replyStatus(res, rec, status(422, 'Invalid', `${def.kind} "" is invalid: metadata.name: Required value: name or generateName is required`,
            { kind: def.kind, causes: [{ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' }] }));
          return;
        }
        const existing = name !== '' ? store.get(def, ns, name) : undefined;
        if (attrs.verb === 'create' && existing !== undefined) {
          replyStatus(res, rec, alreadyExists(def.group, def.name, name));
          return;
        }
        if (attrs.verb === 'update' && existing === undefined) {
          replyStatus(res, rec, notFound(def.group, def.name, name));
          return;
        }
        const stored = defaultObject(def, { ...obj, metadata: { ...obj.metadata, name: name || undefined } }, ns, store.nextResourceVersion());
        if (existing !== undefined) {
          stored.metadata.uid = existing.metadata.uid;
          stored.metadata.creationTimestamp = existing.metadata.creationTimestamp;
        }
        if (!dryRun) store.put(def, stored);
        reply(res, rec, attrs.verb === 'create' ? 201 : 200, stored);
        return;
      }
      case 'patch': {
        const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
        const existing = store.get(def, ns, attrs.name);
        const isApply = ct === 'application/apply-patch+yaml';
        if (!isApply && ct !== 'application/merge-patch+json' && ct !== 'application/strategic-merge-patch+json') {
          replyStatus(res, rec, status(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`));
          return;
        }
        if (existing === undefined && !isApply) {
          replyStatus(res, rec, notFound(def.group, def.name, attrs.name));
          return;
        }
        let patch: unknown;
        try {
          patch = isApply ? parseYaml(body.toString('utf8')) as unknown : JSON.parse(body.toString('utf8')) as unknown;
        } catch (e) {
          replyStatus(res, rec, badRequest(`error decoding patch: ${(e as Error).message}`));
          return;
        }
        const merged = mergePatch(existing ?? {}, patch) as KubeObject;
        merged.metadata = { ...(merged.metadata ?? {}), name: attrs.name };
        let stored: KubeObject;
        if (existing === undefined) {
          stored = defaultObject(def, merged, ns, store.nextResourceVersion());
        } else {
          stored = { ...merged, metadata: { ...merged.metadata, resourceVersion: store.nextResourceVersion() } };
        }
        if (!dryRun) store.put(def, stored);
        reply(res, rec, existing === undefined ? 201 : 200, stored);
        return;
      }
      case 'delete': {
        const gone = dryRun ? store.get(def, ns, attrs.name) : store.delete(def, ns, attrs.name);
        if (gone === undefined) replyStatus(res, rec, notFound(def.group, def.name, attrs.name));
        else {
          if (def.name === 'pods') podFiles.remove(ns, attrs.name);
          reply(res, rec, 200, gone);
        }
        return;
      }
      case 'deletecollection': {
        const items = store.list(def, ns).filter((o) => matchesLabelSelector(q.get('labelSelector'), o.metadata.labels));
        if (!dryRun) for (const o of items) store.delete(def, ns, o.metadata.name ?? '');
        reply(res, rec, 200, {
          kind: `${def.kind}List`, apiVersion: def.version, metadata: { resourceVersion: store.resourceVersion }, items: items.map(stripTypeMeta),
        });
        return;
      }
      default:
        replyStatus(res, rec, methodNotAllowed());
    }
  }

  // ---- the pipeline shared by requests and upgrades ------------------------------------------

  function record(req: IncomingMessage, upgrade: boolean): RecordedRequest {
    const rec: RecordedRequest = {
      method: req.method ?? '', url: req.url ?? '', rawHeaders: [...req.rawHeaders], headers: req.headers,
      body: Buffer.alloc(0), upgrade, connection: connectionIds.get(req.socket) ?? 0, at: Date.now(),
    };
    requests.push(rec);
    return rec;
  }

  type Gate =
    | { ok: true; identity: Identity; attrs: RequestAttributes }
    | { ok: false; code: number; contentType: string; body: string };

  /** Authentication → impersonation → authorization, in the apiserver's order. */
  function gate(req: IncomingMessage, rec: RecordedRequest): Gate {
    const auth = authenticate(req.rawHeaders, accepted);
    if (auth.tokens.length > 0) rec.token = auth.tokens[0];
    tokensSeen.push(...auth.tokens);
    let requestor: Identity | undefined = auth.ok ? SERVICE_ACCOUNT_IDENTITY : undefined;
    // The service-account authenticator: tokens the double issued (`kubectl create token`) work directly.
    if (!auth.ok && auth.tokens.length === 1 && headerLines(req.rawHeaders, 'authorization').length === 1) {
      const sa = saTokens.check(auth.tokens[0] ?? '');
      if (sa.ok) requestor = sa.identity;
    }
    if (requestor === undefined) return { ok: false, code: 401, contentType: 'application/json', body: statusText(UNAUTHORIZED) };
    rec.requestor = requestor;
    const imp = impersonate(requestor, req.rawHeaders, req.url ?? '', { strict, authorize });
    if (!imp.ok) return { ok: false, code: imp.statusCode, contentType: imp.contentType, body: imp.body };
    rec.identity = imp.identity;
    rec.impersonated = imp.impersonated;
    const attrs = parseRequestInfo(req.method ?? 'GET', req.url ?? '/');
    if (!authorize(imp.identity, attrs)) {
      return { ok: false, code: 403, contentType: 'application/json', body: statusText(forbidden(imp.identity.user, attrs)) };
    }
    return { ok: true, identity: imp.identity, attrs };
  }

  async function applyOverrides(target: string): Promise<string | undefined> {
    for (const o of overrides) {
      if (o.delayMs !== undefined && matches(o.match, target)) await sleep(o.delayMs);
    }
    return overrides.find((o) => o.redirect !== undefined && matches(o.match, target))?.redirect;
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const rec = record(req, false);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    rec.body = Buffer.concat(chunks);
    const location = await applyOverrides(rec.url);
    if (res.destroyed) return;
    if (location !== undefined) {
      rec.statusCode = 302;
      res.writeHead(302, { Location: location, 'Content-Length': '0' });
      res.end();
      return;
    }
    const g = gate(req, rec);
    if (!g.ok) {
      rec.statusCode = g.code;
      sendBody(res, g.code, g.body, g.contentType);
      return;
    }
    if (isReviewResource(g.attrs)) handleAccessOrTokenReview(req, res, rec, g.attrs);
    else if (g.attrs.isResourceRequest) await handleResource(req, res, rec, g.attrs, g.identity, rec.body);
    else handleNonResource(req, res, rec, g.attrs);
  }

  // ---- upgrades ----------------------------------------------------------------------------

  /**
   * Answer an upgrade request without upgrading, then keep parsing the connection as HTTP —
   * what Go's net/http does when a handler writes a normal response to an upgrade request.
   * This is the behaviour behind CVE-2018-1002105: a proxy that splices the sockets anyway
   * lets the client's next bytes reach the apiserver as a request on kubegate's connection;
   * the double then records (and answers) that request, so a test can see it.
   */
  function refuseUpgrade(socket: Duplex, head: Buffer, rec: RecordedRequest, code: number, contentType: string, body: string): void {
    rec.statusCode = code;
    writeRaw(socket, rawResponse(code, contentType, body));
    if (socket.destroyed) return;
    if (head.length > 0) socket.unshift(head);
    server.emit('secureConnection', socket);
  }

  const remote = createRemoteCommandHandler({
    store, podDef, podFiles,
    onRefuse: refuseUpgrade,
    logsFor: (ns, name) => logs.get(podKey(ns, name)) ?? [],
  });

  async function onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    upgradeRequests += 1;
    const rec = record(req, true);
    const location = await applyOverrides(rec.url);
    if (location !== undefined) {
      rec.statusCode = 302;
      writeRaw(socket, rawResponse(302, 'text/plain', '', { Location: location }));
      socket.destroy();
      return;
    }
    const g = gate(req, rec);
    if (!g.ok) {
      refuseUpgrade(socket, head, rec, g.code, g.contentType, g.body);
      return;
    }
    const { attrs } = g;
    if (attrs.isResourceRequest && attrs.apiGroup === '' && attrs.resource === 'pods'
      && ['exec', 'attach', 'portforward'].includes(attrs.subresource)) {
      remote.handle(req, socket, head, rec, g.identity, attrs);
      return;
    }
    refuseUpgrade(socket, head, rec, 400, 'application/json',
      statusText(badRequest(`apiserver double: no upgrade handler for ${attrs.path}`)));
  }

  // ---- server ------------------------------------------------------------------------------

  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => {
    onRequest(req, res).catch((err: Error) => {
      if (!res.headersSent) sendBody(res, 500, statusText(status(500, 'InternalError', `apiserver double: ${err.message}`)), 'application/json');
      else res.destroy(err);
    });
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    onUpgrade(req, socket, head).catch(() => socket.destroy());
  });
  server.on('connection', (s: Socket) => {
    tcpConnections += 1;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: TLSSocket) => {
    // Re-emitted after a refused upgrade (see refuseUpgrade): same connection, not a new one.
    if (connectionIds.has(s)) return;
    connections += 1;
    connectionIds.set(s, connections);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('tlsClientError', () => { tlsErrors += 1; });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('apiserver double: no address');
  url = `https://127.0.0.1:${addr.port}`;

  const double: ApiServerDouble = {
    get url() { return url; },
    caPem: pki.caPem,
    caFile: pki.caFile,
    get token() { return token; },
    tokenFile,
    tokensSeen,
    requests,
    get connections() { return connections; },
    get tcpConnections() { return tcpConnections; },
    get tlsErrors() { return tlsErrors; },
    get upgradeRequests() { return upgradeRequests; },
    upgrades: remote.upgrades,
    execs: remote.execs,
    get openWatches() { return store.openWatches; },
    async setToken(t, o = {}) {
      if (!o.keepOld) accepted.clear();
      accepted.add(t);
      token = t;
      // Write-then-rename, so a reader never sees a half-written token (kubelet swaps a symlink).
      const tmp = `${tokenFile}.${Date.now()}.tmp`;
      await writeFile(tmp, t, { mode: 0o600 });
      await rename(tmp, tokenFile);
    },
    issueServiceAccountToken: (namespace, name, o) => saTokens.issue(namespace, name, o),
    revokeServiceAccountToken: (t) => saTokens.revoke(t),
    deleteServiceAccount: (namespace, name) => saTokens.deleteServiceAccount(namespace, name),
    setReviewRights(rights) {
      Object.assign(reviewRights, rights);
    },
    addPod,
    getObject(resource, namespace, name) {
      const def = CORE_RESOURCES.find((r) => r.name === resource);
      return def ? store.get(def, def.namespaced ? namespace : '', name) : undefined;
    },
    emitPodEvent(namespace, type, pod) {
      const given: KubeObject = typeof pod === 'string' ? { metadata: { name: pod } } : pod;
      const name = given.metadata.name ?? '';
      if (type === 'DELETED') {
        const gone = store.delete(podDef, namespace, name);
        if (gone !== undefined) return gone;
        const synthetic = defaultObject(podDef, given, namespace, store.nextResourceVersion());
        store.notify(podDef, 'DELETED', synthetic);
        return synthetic;
      }
      const existing = store.get(podDef, namespace, name);
      const base = given.status === undefined ? defaultObject(podDef, given, namespace, '') : { ...given };
      const obj: KubeObject = {
        ...base, apiVersion: 'v1', kind: 'Pod',
        metadata: {
          ...base.metadata, namespace, resourceVersion: store.nextResourceVersion(),
          uid: existing?.metadata.uid ?? base.metadata.uid,
          creationTimestamp: existing?.metadata.creationTimestamp ?? base.metadata.creationTimestamp,
        },
      };
      store.put(podDef, obj, type);
      return obj;
    },
    writeLog(line, pod) {
      const text = line.endsWith('\n') ? line : `${line}\n`;
      const targets = pod ? [podKey(pod.namespace, pod.name)]
        : store.list(podDef, '').map((p) => podKey(p.metadata.namespace ?? '', p.metadata.name ?? ''));
      for (const key of targets) {
        const arr = logs.get(key) ?? [];
        arr.push(text);
        logs.set(key, arr);
        for (const res of logFollowers.get(key) ?? []) res.write(text);
      }
    },
    podFiles,
    redirect(match, location = 'https://elsewhere.invalid/') {
      overrides.push({ match, redirect: location });
    },
    delay(ms, match = /^/) {
      overrides.push({ match, delayMs: ms });
    },
    clearOverrides() {
      overrides = [];
    },
    reset() {
      requests.length = 0;
      tokensSeen.length = 0;
      remote.upgrades.length = 0;
      remote.execs.length = 0;
      connections = 0;
      tcpConnections = 0;
      tlsErrors = 0;
      upgradeRequests = 0;
    },
    async close() {
      if (closed) return;
      closed = true;
      overrides = [];
      for (const res of openStreams) res.end();
      remote.closeAll();
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await done;
      await podFiles.removeAll();
    },
  };
  return double;
}

/**
 * The slice of the Kubernetes API the double serves: discovery documents, the resource
 * registry kubectl's RESTMapper reads, object defaulting, and server-side Table printing
 * (kubectl get asks for `as=Table` and prints the server's columns).
 */
import { randomUUID } from 'node:crypto';

export interface ResourceDef {
  group: string;
  version: string;
  name: string;
  singularName: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames?: string[];
  categories?: string[];
  /** Subresource name -> kind, verbs */
  subresources?: Record<string, { kind: string; verbs: string[] }>;
}

const CRUD = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const CORE_RESOURCES: readonly ResourceDef[] = [
  {
    group: '', version: 'v1', name: 'pods', singularName: 'pod', kind: 'Pod', namespaced: true, verbs: CRUD,
    shortNames: ['po'], categories: ['all'],
    subresources: {
      attach: { kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      exec: { kind: 'PodExecOptions', verbs: ['create', 'get'] },
      log: { kind: 'Pod', verbs: ['get'] },
      portforward: { kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
      status: { kind: 'Pod', verbs: ['get', 'patch', 'update'] },
    },
  },
  {
    group: '', version: 'v1', name: 'services', singularName: 'service', kind: 'Service', namespaced: true,
    verbs: CRUD, shortNames: ['svc'], categories: ['all'],
    subresources: { status: { kind: 'Service', verbs: ['get', 'patch', 'update'] } },
  },
  { group: '', version: 'v1', name: 'configmaps', singularName: 'configmap', kind: 'ConfigMap', namespaced: true, verbs: CRUD, shortNames: ['cm'] },
  { group: '', version: 'v1', name: 'secrets', singularName: 'secret', kind: 'Secret', namespaced: true, verbs: CRUD },
  { group: '', version: 'v1', name: 'serviceaccounts', singularName: 'serviceaccount', kind: 'ServiceAccount', namespaced: true, verbs: CRUD, shortNames: ['sa'] },
  { group: '', version: 'v1', name: 'events', singularName: 'event', kind: 'Event', namespaced: true, verbs: CRUD, shortNames: ['ev'] },
  {
    group: '', version: 'v1', name: 'namespaces', singularName: 'namespace', kind: 'Namespace', namespaced: false,
    verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['ns'],
  },
  { group: '', version: 'v1', name: 'nodes', singularName: 'node', kind: 'Node', namespaced: false, verbs: CRUD, shortNames: ['no'] },
];

const REVIEW_VERBS = ['create'];

export const GROUP_RESOURCES: readonly ResourceDef[] = [
  ...['v1', 'v1beta1'].map((version): ResourceDef => ({
    group: 'authentication.k8s.io', version, name: 'selfsubjectreviews', singularName: 'selfsubjectreview',
    kind: 'SelfSubjectReview', namespaced: false, verbs: REVIEW_VERBS,
  })),
  {
    group: 'authorization.k8s.io', version: 'v1', name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview',
    kind: 'SelfSubjectAccessReview', namespaced: false, verbs: REVIEW_VERBS,
  },
];

export const ALL_RESOURCES: readonly ResourceDef[] = [...CORE_RESOURCES, ...GROUP_RESOURCES];

export function findResource(group: string, version: string, name: string): ResourceDef | undefined {
  return ALL_RESOURCES.find((r) => r.group === group && r.version === version && r.name === name);
}

export function apiVersionOf(r: { group: string; version: string }): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** GET /api */
export function apiVersions(hostPort: string): unknown {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: hostPort }],
  };
}

/** GET /apis — legacy (unaggregated) discovery; client-go falls back to it when the response is plain JSON. */
export function apiGroupList(): unknown {
  const groups = new Map<string, string[]>();
  for (const r of GROUP_RESOURCES) {
    const vs = groups.get(r.group) ?? [];
    if (!vs.includes(r.version)) vs.push(r.version);
    groups.set(r.group, vs);
  }
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: [...groups].map(([name, versions]) => ({
      name,
      versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
      preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
    })),
  };
}

/** GET /api/v1, /apis/<group>/<version> */
export function apiResourceList(group: string, version: string): unknown | undefined {
  const defs = ALL_RESOURCES.filter((r) => r.group === group && r.version === version);
  if (defs.length === 0) return undefined;
  const resources: unknown[] = [];
  for (const r of defs) {
    const entry: Record<string, unknown> = {
      name: r.name, singularName: r.singularName, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs,
    };
    if (r.shortNames) entry.shortNames = r.shortNames;
    if (r.categories) entry.categories = r.categories;
    resources.push(entry);
    for (const [sub, def] of Object.entries(r.subresources ?? {})) {
      resources.push({ name: `${r.name}/${sub}`, singularName: '', namespaced: r.namespaced, kind: def.kind, verbs: def.verbs });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  [k: string]: unknown;
};

/** Fill in what the apiserver and a healthy kubelet would: uid, timestamps, a Running status for pods. */
export function defaultObject(def: ResourceDef, obj: KubeObject, namespace: string, resourceVersion: string): KubeObject {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const out: KubeObject = { ...obj, apiVersion: apiVersionOf(def), kind: def.kind, metadata: { ...obj.metadata } };
  if (!out.metadata.name && out.metadata.generateName) {
    out.metadata.name = `${out.metadata.generateName}${randomUUID().slice(0, 5)}`;
  }
  if (def.namespaced) out.metadata.namespace = namespace;
  out.metadata.uid = randomUUID();
  out.metadata.resourceVersion = resourceVersion;
  out.metadata.creationTimestamp = now;
  if (def.name === 'pods') {
    const spec = { ...(out.spec ?? {}) } as Record<string, unknown>;
    const containers = Array.isArray(spec.containers) && spec.containers.length > 0
      ? spec.containers as Array<Record<string, unknown>>
      : [{ name: 'main', image: 'busybox' }];
    spec.containers = containers;
    spec.nodeName ??= 'node-1';
    out.spec = spec;
    out.status = {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: 'True', lastTransitionTime: now }],
      hostIP: '10.0.0.1',
      podIP: '10.244.0.10',
      startTime: now,
      containerStatuses: containers.map((c) => ({
        name: c.name, ready: true, restartCount: 0, started: true, image: c.image, imageID: '',
        state: { running: { startedAt: now } },
      })),
    };
  }
  if (def.name === 'namespaces') out.status = { phase: 'Active' };
  return out;
}

/** apimachinery's duration.HumanDuration, as shown in the AGE column. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60 * 2) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return s % 60 === 0 ? `${m}m` : `${m}m${s % 60}s`;
  if (m < 60 * 3) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return m % 60 === 0 ? `${h}h` : `${h}h${m % 60}m`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (h < 24 * 8) return h % 24 === 0 ? `${d}d` : `${d}d${h % 24}h`;
  if (h < 24 * 365 * 2) return `${d}d`;
  return `${Math.floor(d / 365)}y`;
}

interface Column { name: string; type: string; format: string; description: string; priority: number }

const NAME_COL: Column = {
  name: 'Name', type: 'string', format: 'name', priority: 0,
  description: 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.',
};
const AGE_COL: Column = {
  name: 'Age', type: 'string', format: '', priority: 0,
  description: 'CreationTimestamp is a timestamp representing the server time when this object was created.',
};
const POD_COLUMNS: Column[] = [
  NAME_COL,
  { name: 'Ready', type: 'string', format: '', priority: 0, description: 'The aggregate readiness state of this pod for accepting traffic.' },
  { name: 'Status', type: 'string', format: '', priority: 0, description: 'The aggregate status of the containers in this pod.' },
  { name: 'Restarts', type: 'string', format: '', priority: 0, description: 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.' },
  AGE_COL,
  { name: 'IP', type: 'string', format: '', priority: 1, description: 'The IP address assigned to the pod.' },
  { name: 'Node', type: 'string', format: '', priority: 1, description: 'Name of the node this pod is assigned to.' },
];

function age(obj: KubeObject): string {
  const t = obj.metadata.creationTimestamp ? Date.parse(obj.metadata.creationTimestamp) : Date.now();
  return humanDuration(Date.now() - t);
}

function rowCells(def: ResourceDef, obj: KubeObject): unknown[] {
  if (def.name !== 'pods') return [obj.metadata.name ?? '', age(obj)];
  const statuses = (obj.status?.containerStatuses ?? []) as Array<{ ready?: boolean; restartCount?: number }>;
  const containers = (obj.spec?.containers ?? []) as unknown[];
  const ready = statuses.filter((c) => c.ready).length;
  const restarts = statuses.reduce((n, c) => n + (c.restartCount ?? 0), 0);
  return [
    obj.metadata.name ?? '', `${ready}/${containers.length}`, String(obj.status?.phase ?? 'Unknown'), String(restarts),
    age(obj), String(obj.status?.podIP ?? '<none>'), String(obj.spec?.nodeName ?? '<none>'),
  ];
}

/**
 * A meta.k8s.io/v1 Table. Row objects are PartialObjectMetadata unless the client asked for
 * `includeObject=Object` (or None), as the apiserver does.
 */
export function toTable(
  def: ResourceDef, objects: KubeObject[], resourceVersion: string,
  opts: { includeObject?: string | null; withColumns?: boolean } = {},
): Record<string, unknown> {
  const include = opts.includeObject ?? 'Metadata';
  const rows = objects.map((o) => {
    const row: Record<string, unknown> = { cells: rowCells(def, o) };
    if (include === 'Object') row.object = o;
    else if (include !== 'None') {
      row.object = { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata };
    }
    return row;
  });
  const table: Record<string, unknown> = { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion } };
  if (opts.withColumns !== false) table.columnDefinitions = def.name === 'pods' ? POD_COLUMNS : [NAME_COL, AGE_COL];
  table.rows = rows;
  return table;
}

/** True when the Accept header asks for a Table (kubectl get sends `application/json;as=Table;v=v1;g=meta.k8s.io,...`). */
export function wantsTable(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((part) => {
    const params = part.split(';').map((p) => p.trim());
    return params.includes('as=Table') && params.includes('g=meta.k8s.io');
  });
}

/** Equality-based label selector (`a=b,c!=d,e`): enough for kubectl's `-l`. Unknown syntax matches everything. */
export function matchesLabelSelector(selector: string | null, labels: Record<string, string> | undefined): boolean {
  if (!selector) return true;
  const l = labels ?? {};
  for (const term of selector.split(',').map((t) => t.trim()).filter(Boolean)) {
    let m: RegExpExecArray | null;
    if ((m = /^([^!=]+)!=(.*)$/.exec(term))) {
      if (l[m[1]!.trim()] === m[2]!.trim()) return false;
    } else if ((m = /^([^!=]+)==?(.*)$/.exec(term))) {
      if (l[m[1]!.trim()] !== m[2]!.trim()) return false;
    } else if (/^!/.test(term)) {
      if (term.slice(1).trim() in l) return false;
    } else if (/^[A-Za-z0-9./_-]+$/.test(term)) {
      if (!(term in l)) return false;
    }
  }
  return true;
}

/** RFC 7386 JSON merge patch (also used, as an approximation, for strategic merge patches). */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target)
    ? { ...(target as Record<string, unknown>) }
    : {};
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) {
    if (k.startsWith('$')) continue; // strategic-merge directives ($patch, $setElementOrder/...)
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Minimal OpenAPI v3 discovery (`/openapi/v3`) and per-group-version documents.
 *
 * Why: `kubectl apply` validates by default (`--validate=strict`). It first asks OpenAPI v3
 * whether the server supports server-side field validation — i.e. whether the kind's PATCH
 * operation takes a `fieldValidation` query parameter. Without any OpenAPI it falls back
 * to client-side validation, which needs /openapi/v2 and fails ("failed to download
 * openapi"). These documents say just enough for kubectl to choose server-side validation;
 * they carry no schemas, so strategic-merge patches fall back to kubectl's built-in types.
 */
export function openApiV3Root(): unknown {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  const gvs = new Set(ALL_RESOURCES.map((r) => (r.group === '' ? `api/${r.version}` : `apis/${r.group}/${r.version}`)));
  for (const gv of gvs) paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=0123456789ABCDEF` };
  return { paths };
}

export function openApiV3Doc(gvPath: string): unknown | undefined {
  const defs = ALL_RESOURCES.filter((r) => (r.group === '' ? `api/${r.version}` : `apis/${r.group}/${r.version}`) === gvPath);
  if (defs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of defs) {
    const base = `/${gvPath}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.name}/{name}`;
    const gvk = { group: r.group, version: r.version, kind: r.kind };
    paths[base] = {
      patch: {
        operationId: `patch${r.kind}`,
        'x-kubernetes-action': 'patch',
        'x-kubernetes-group-version-kind': gvk,
        parameters: [
          { name: 'dryRun', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldManager', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } },
          { name: 'force', in: 'query', schema: { type: 'boolean', uniqueItems: true } },
        ],
        responses: { 200: { description: 'OK' } },
      },
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.31.0' }, paths, components: {} };
}

/**
 * In-memory object store with resource versions and watch fan-out — the etcd + watch cache
 * of the double. Every change (API call or test-driven event) bumps one global resource
 * version and reaches the open watches that match it.
 */
import type { KubeObject, ResourceDef } from './resources.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface Watcher {
  def: ResourceDef;
  /** '' = all namespaces */
  namespace: string;
  name: string;
  labelSelector: string | null;
  send(type: WatchEventType, obj: KubeObject): void;
}

export class ObjectStore {
  private readonly objects = new Map<string, Map<string, KubeObject>>();
  private readonly watchers = new Set<Watcher>();
  private rv = 1000;

  get resourceVersion(): string {
    return String(this.rv);
  }

  nextResourceVersion(): string {
    this.rv += 1;
    return String(this.rv);
  }

  private bucket(def: ResourceDef): Map<string, KubeObject> {
    const key = `${def.group}/${def.name}`;
    let b = this.objects.get(key);
    if (b === undefined) {
      b = new Map();
      this.objects.set(key, b);
    }
    return b;
  }

  get(def: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    return this.bucket(def).get(`${namespace}/${name}`);
  }

  list(def: ResourceDef, namespace: string): KubeObject[] {
    const out: KubeObject[] = [];
    for (const o of this.bucket(def).values()) {
      if (namespace === '' || o.metadata.namespace === namespace) out.push(o);
    }
    return out.sort((a, b) => `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(`${b.metadata.namespace}/${b.metadata.name}`));
  }

  /**
   * Store `obj` (its resourceVersion must already be set) and notify watches. The event type
   * follows from whether the object existed, unless a test forces one.
   */
  put(def: ResourceDef, obj: KubeObject, forceType?: 'ADDED' | 'MODIFIED'): 'ADDED' | 'MODIFIED' {
    const key = `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
    const b = this.bucket(def);
    const type = forceType ?? (b.has(key) ? 'MODIFIED' : 'ADDED');
    b.set(key, obj);
    this.notify(def, type, obj);
    return type;
  }

  delete(def: ResourceDef, namespace: string, name: string): KubeObject | undefined {
    const b = this.bucket(def);
    const key = `${namespace}/${name}`;
    const obj = b.get(key);
    if (obj === undefined) return undefined;
    b.delete(key);
    const gone: KubeObject = { ...obj, metadata: { ...obj.metadata, resourceVersion: this.nextResourceVersion() } };
    this.notify(def, 'DELETED', gone);
    return gone;
  }

  watch(w: Watcher): () => void {
    this.watchers.add(w);
    return () => { this.watchers.delete(w); };
  }

  get openWatches(): number {
    return this.watchers.size;
  }

  notify(def: ResourceDef, type: WatchEventType, obj: KubeObject): void {
    for (const w of this.watchers) {
      if (w.def.group !== def.group || w.def.name !== def.name) continue;
      if (w.namespace !== '' && w.namespace !== obj.metadata.namespace) continue;
      if (w.name !== '' && w.name !== obj.metadata.name) continue;
      w.send(type, obj);
    }
  }

  clear(): void {
    this.objects.clear();
  }
}

import { execFileSync } from 'node:child_process';
import { parseAllDocuments } from 'yaml';

/** A rendered Kubernetes object, loosely typed: tests read into it. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string, namespace?: string, labels?: Record<string, string>, annotations?: Record<string, string> };
  [field: string]: any;
}

interface Validatable { validate(): void }
type ModelClass = new (data: unknown) => Validatable;

/**
 * Validates an object against the Kubernetes OpenAPI schema compiled into the `kubernetes-models` package
 * (offline: the schemas ship inside the package). The model is picked from apiVersion and kind, so an object
 * with a misspelt kind or group fails here instead of at `kubectl apply`. Throws with every schema error.
 */
export async function validateManifest (object: Manifest): Promise<void> {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : [undefined, object.apiVersion];
  const specifier = `kubernetes-models/${group === undefined ? '' : `${group}/`}${version}/${object.kind}`;
  let module: Record<string, unknown>;
  try {
    module = await import(specifier) as Record<string, unknown>;
  } catch {
    throw new Error(`${object.apiVersion} ${object.kind}: no schema (unknown kind or API version)`);
  }
  const Model = module[object.kind] as ModelClass | undefined;
  if (Model === undefined) throw new Error(`${object.apiVersion} ${object.kind}: no schema`);
  try {
    new Model(object).validate();
  } catch (error) {
    throw new Error(`${object.kind}/${object.metadata?.name}: ${(error as Error).message}`);
  }
}

export function kustomize (kubectl: string, dir: string): Manifest[] {
  const text = execFileSync(kubectl, ['kustomize', dir], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' } });
  return parseManifests(text);
}

export function parseManifests (text: string): Manifest[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0]!;
    return doc.toJS() as Manifest | null;
  }).filter((o): o is Manifest => o !== null);
}

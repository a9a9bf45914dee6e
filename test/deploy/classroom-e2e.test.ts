import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { renderClassroom } from '../../src/classroom/render.js';
import type { KubeObject } from '../../src/classroom/render.js';
import { parseRoster } from '../../src/classroom/roster.js';
import type { RoleBinding } from '../helpers/apiserver.js';
import { kubectl, writeKubeconfig } from '../helpers/kubectl.js';
import { startStack } from '../helpers/stack.js';
import type { Stack } from '../helpers/stack.js';

/*
 * End to end: the RoleBindings `classroom render` writes, loaded into the apiserver double's RBAC, decide what
 * real kubectl may do through kubegate. The custom Role is used so that every rule comes from the rendered
 * output itself (the built-in `admin` ClusterRole does not exist in the double).
 */
const MAKE_CERTS = join(import.meta.dirname, '..', '..', 'certs', 'make-dev-certs.sh');

function toDoubleBindings (objects: readonly KubeObject[]): RoleBinding[] {
  const roles = new Map(objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')
    .map((o) => [`${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o.rules as RoleBinding['rules']]));
  return objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding').map((o) => {
    const ref = o.roleRef as { kind: string, name: string };
    const rules = roles.get(`${ref.kind}/${ref.kind === 'Role' ? o.metadata.namespace : ''}/${ref.name}`);
    assert.ok(rules !== undefined, `${o.kind}/${o.metadata.name} refers to a rendered role`);
    return {
      ...(o.kind === 'RoleBinding' ? { namespace: o.metadata.namespace! } : {}),
      subjects: (o.subjects as Array<{ kind: 'User' | 'Group', name: string }>).map(({ kind, name }) => ({ kind, name })),
      rules,
    };
  });
}

describe('rendered classroom RBAC through kubegate and the apiserver double', () => {
  let stack: Stack;
  const roster = parseRoster('email\nuser01@example.com\nuser02@example.com\n', 'csv');
  const plan = renderClassroom(roster.entries, { studentRole: 'custom', instructorGroup: '' });

  // kubectl sends a bearer token only over TLS, so kubegate serves HTTPS with a certificate from certs/.
  const certs = mkdtempSync(join(tmpdir(), 'kubegate-e2e-certs-'));

  before(async () => {
    execFileSync('bash', [MAKE_CERTS], { env: { ...process.env, OUT_DIR: certs }, stdio: 'pipe' });
    stack = await startStack({
      config: { tls: { certFile: join(certs, 'tls.crt'), privateKeyFile: join(certs, 'tls.key') } },
      apiserver: {
        rbac: toDoubleBindings(plan.objects),
        namespaces: ['default', 'user01', 'user02'],
        pods: [{ namespace: 'user01', name: 'web-1' }, { namespace: 'user02', name: 'web-2' }],
      },
    });
  });
  after(async () => {
    await stack?.close();
    rmSync(certs, { recursive: true, force: true });
  });

  async function kubectlAs (email: string, args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> {
    const token = await stack.issuer.token({ email, sub: email });
    const kubeconfig = await writeKubeconfig({ server: stack.kg.url, caFile: join(certs, 'ca.crt'), token });
    return kubectl(args, { kubeconfig });
  }

  it('lets a student list pods in their own namespace', async () => {
    assert.match(stack.kg.url, /^https:\/\/127\.0\.0\.1:/);
    assert.deepEqual(plan.students.map((s) => s.namespace), ['user01', 'user02']);
    const result = await kubectlAs('user01@example.com', ['-n', 'user01', 'get', 'pods', '-o', 'name']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'pod/web-1');
  });

  it('refuses the same student in another student\'s namespace, with the apiserver\'s Forbidden', async () => {
    const result = await kubectlAs('user01@example.com', ['-n', 'user02', 'get', 'pods']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /Forbidden.*User "user01@example\.com" cannot list resource "pods" in API group "" in the namespace "user02"/);
  });
});

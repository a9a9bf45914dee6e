/**
 * The apiserver double against the real kubectl (no kubegate in between). The kubeconfig
 * carries the service-account token and `as: user01@example.com`, so kubectl itself sends
 * Impersonate-User — the same wire shape kubegate produces.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startApiServer } from '../../helpers/apiserver.js';
import { createTempDir } from '../../helpers/pki.js';
import type { ApiServerDouble } from '../../helpers/apiserver.js';
import { kubectl, kubectlBinary, kubectlOnPath, startKubectl, writeKubeconfig } from '../../helpers/kubectl.js';
import type { KubectlOptions } from '../../helpers/kubectl.js';

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('real kubectl against the apiserver double', () => {
  let api: ApiServerDouble;
  let kubeconfig: string;
  let work: string;
  const run = (args: string[], o: Partial<KubectlOptions> = {}) => kubectl(args, { kubeconfig, ...o });

  before(async () => {
    api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
    kubeconfig = await writeKubeconfig({
      server: api.url, caFile: api.caFile, token: api.token, as: 'user01@example.com', namespace: 'user01',
    });
    work = createTempDir('kubegate-kubectl-');
  });
  after(() => api.close());

  test('auth whoami (dispatcher → 1.31, v1) and kubectl 1.27 (v1beta1)', async () => {
    for (const binary of [kubectlOnPath(), kubectlBinary('1.27')]) {
      const r = await run(['auth', 'whoami'], { binary });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ATTRIBUTE\s+VALUE\nUsername\s+user01@example\.com\nGroups\s+\[system:authenticated\]\n$/);
    }
    const reviews = api.requests.filter((q) => q.url.includes('selfsubjectreviews')).map((q) => q.url.split('?')[0]);
    assert.deepEqual(reviews, ['/apis/authentication.k8s.io/v1/selfsubjectreviews', '/apis/authentication.k8s.io/v1beta1/selfsubjectreviews']);
    // The dispatcher's version probe carries the credentials too.
    assert.ok(api.requests.some((q) => q.url === '/version?timeout=5s' && q.token === api.token));
  });

  test('get pods prints the server-side Table; get nodes is Forbidden with the apiserver message', async () => {
    const pods = await run(['get', 'pods']);
    assert.equal(pods.code, 0, pods.stderr);
    assert.match(pods.stdout, /^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\np\s+1\/1\s+Running\s+0\s+\d+s\n$/);
    const nodes = await run(['get', 'nodes']);
    assert.equal(nodes.code, 1);
    assert.equal(nodes.stderr.trim(),
      'Error from server (Forbidden): nodes is forbidden: User "user01@example.com" cannot list resource "nodes" in API group "" at the cluster scope');
    const other = await run(['-n', 'default', 'get', 'pods']);
    assert.match(other.stderr, /cannot list resource "pods" in API group "" in the namespace "default"/);
  });

  test('apply -f creates, re-apply patches (server-side field validation via OpenAPI v3)', async () => {
    const file = join(work, 'pod.yaml');
    await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n');
    const created = await run(['apply', '-f', file]);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.stdout, 'pod/web created\n');
    const post = api.requests.find((q) => q.method === 'POST' && q.url.startsWith('/api/v1/namespaces/user01/pods?'));
    assert.match(post?.url ?? '', /fieldValidation=Strict/);
    assert.equal(JSON.parse(post?.body.toString() ?? '{}').metadata.name, 'web');
    await writeFile(file, 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    tier: front\nspec:\n  containers:\n  - name: nginx\n    image: nginx\n');
    const configured = await run(['apply', '-f', file]);
    assert.equal(configured.code, 0, configured.stderr);
    assert.equal(configured.stdout, 'pod/web configured\n');
    const patch = api.requests.findLast((q) => q.method === 'PATCH');
    assert.equal(patch?.headers['content-type'], 'application/strategic-merge-patch+json');
    assert.deepEqual(api.getObject('pods', 'user01', 'web')?.metadata.labels, { tier: 'front' });
    const deleted = await run(['delete', 'pod', 'web']);
    assert.equal(deleted.stdout, 'pod "web" deleted\n');
  });

  test('get pods -w shows an event emitted one second later', async () => {
    const w = startKubectl(['get', 'pods', '-w'], { kubeconfig });
    try {
      await w.waitFor(/^p\s+1\/1\s+Running/m);
      await until(() => api.openWatches > 0);
      setTimeout(() => api.emitPodEvent('user01', 'ADDED', 'late'), 1000);
      await w.waitFor(/^late\s+1\/1\s+Running\s+0\s+0s$/m, 5000);
    } finally {
      await w.stop();
    }
  });

  test('exec -i cat echoes stdin over WebSocket v5; exit code 3 propagates', async () => {
    const r = await run(['exec', '-i', 'p', '--', 'cat'], { stdin: 'hello\n' });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'hello\n');
    const exec = api.execs.at(-1);
    assert.equal(exec?.protocol, 'v5.channel.k8s.io');
    assert.equal(exec?.stdinClosed, true);
    const three = await run(['exec', 'p', '--', 'sh', '-c', 'exit 3']);
    assert.equal(three.code, 3);
    assert.equal(three.stderr, 'command terminated with exit code 3\n');
    const v133 = await run(['exec', '-i', 'p', '--', 'cat'], { stdin: 'from 1.33\n', binary: kubectlBinary('1.33') });
    assert.equal(v133.stdout, 'from 1.33\n');
  });

  test('cp to the pod and back', async () => {
    const local = join(work, 'up.txt');
    await writeFile(local, 'uploaded\n');
    const up = await run(['cp', local, 'p:/tmp/up.txt']);
    assert.equal(up.code, 0, up.stderr);
    assert.equal((await api.podFiles.readFile('user01', 'p', '/tmp/up.txt')).toString(), 'uploaded\n');
    await api.podFiles.writeFile('user01', 'p', '/var/data/down.txt', 'downloaded\n');
    const dest = join(work, 'down.txt');
    const down = await run(['cp', 'p:/var/data/down.txt', dest]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(await readFile(dest, 'utf8'), 'downloaded\n');
    assert.ok(api.execs.some((e) => e.command[0] === 'tar' && e.command.includes('-C')));
  });

  test('KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false: SPDY upgrade with separate protocol lines is recorded', async () => {
    const before = api.upgrades.length;
    const k = startKubectl(['exec', '-i', 'p', '--', 'cat'], { kubeconfig, env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, stdin: 'x' });
    try {
      await until(() => api.upgrades.slice(before).some((u) => u.protocol === 'SPDY/3.1' && u.received.length > 0));
    } finally {
      await k.stop();
    }
    const u = api.upgrades.slice(before).find((x) => x.protocol === 'SPDY/3.1');
    assert.equal(u?.accepted, true);
    assert.ok((u?.offered.length ?? 0) >= 2, 'several X-Stream-Protocol-Version lines');
    assert.equal(u?.negotiated, u?.offered[0]);
    assert.equal(u?.identity.user, 'user01@example.com');
    // SPDY frames start with the control bit: 0x80 0x03 = SPDY version 3.
    assert.deepEqual([...(u?.received[0] ?? Buffer.alloc(0)).subarray(0, 2)], [0x80, 0x03]);
    const req = api.requests.findLast((q) => q.upgrade && q.method === 'POST');
    assert.equal(req?.statusCode, 101);
  });

  test('port-forward falls back from the WebSocket tunnel to SPDY and reaches the upgrade', async () => {
    const before = api.upgrades.length;
    const pf = startKubectl(['port-forward', 'p', ':8080'], { kubeconfig });
    try {
      await pf.waitFor(/Forwarding from 127\.0\.0\.1:\d+ -> 8080/);
      const ours = api.upgrades.slice(before);
      assert.deepEqual(ours.map((u) => [u.protocol, u.accepted]), [['websocket', false], ['SPDY/3.1', true]]);
      assert.deepEqual(ours[0]?.offered, ['SPDY/3.1+portforward.k8s.io']);
      assert.equal(ours[1]?.negotiated, 'portforward.k8s.io');
    } finally {
      await pf.stop();
    }
  });
});

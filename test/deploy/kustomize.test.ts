import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { kubectlOnPath } from '../helpers/kubectl.js';
import { kustomize, validateManifest } from './k8s-schema.js';
import type { Manifest } from './k8s-schema.js';

const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');

/** The kubegate config keys these manifests may use (the config schema's sections, camelCase of the flags). */
const CONFIG_KEYS: Record<string, readonly string[] | null> = {
  listen: null,
  tls: ['certFile', 'privateKeyFile'],
  oidc: ['issuerUrl', 'clientId', 'caFile', 'usernameClaim', 'usernamePrefix', 'groupsClaim', 'groupsPrefix', 'signingAlgs', 'requiredClaims', 'clockSkewSeconds'],
  upstream: [],
  metrics: ['listen'],
  store: ['redisUrl', 'redisPasswordFile'],
  admin: ['group'],
  login: ['publicUrl', 'clientSecretFile'],
};

const overlays = readdirSync(join(DEPLOY, 'examples'));

function one (objects: Manifest[], kind: string, name?: string): Manifest {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `exactly one ${kind}${name === undefined ? '' : `/${name}`}`);
  return found[0]!;
}

function matches (selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

describe('deploy/ kustomize', () => {
  it('has the two documented examples', () => {
    assert.deepEqual(overlays.sort(), ['dex-classroom', 'single']);
  });

  for (const name of ['base', ...overlays]) {
    const dir = name === 'base' ? join(DEPLOY, 'base') : join(DEPLOY, 'examples', name);
    describe(name, () => {
      const objects = kustomize(kubectlOnPath(), dir);

      it('renders objects that validate against the Kubernetes OpenAPI schemas', async () => {
        assert.ok(objects.length >= 8);
        for (const object of objects) await validateManifest(object);
      });

      it('grants kubegate nothing but impersonate on users and groups, and create on subjectaccessreviews', () => {
        const roles = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role');
        assert.deepEqual(roles.map((r) => r.metadata.name), ['kubegate-impersonator']);
        // Behaviour change (issue 13): nested impersonation asks SubjectAccessReviews, so base grants that too.
        assert.deepEqual(roles[0]!.rules, [
          { apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] },
          { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
        ]);
        assert.equal(roles[0]!.aggregationRule, undefined, 'an aggregated role could pull in other rules');
        const bindings = objects.filter((o) => o.kind === 'ClusterRoleBinding' || o.kind === 'RoleBinding');
        assert.equal(bindings.length, 1);
        assert.deepEqual(bindings[0]!.roleRef, { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubegate-impersonator' });
        assert.deepEqual(bindings[0]!.subjects, [{ kind: 'ServiceAccount', name: 'kubegate', namespace: 'kubegate' }]);
      });

      it('runs a hardened Deployment with probes on the metrics port', () => {
        const deployment = one(objects, 'Deployment', 'kubegate');
        assert.equal(deployment.metadata.namespace, 'kubegate');
        assert.equal(deployment.spec.replicas, name === 'single' ? 1 : 2);
        const pod = deployment.spec.template.spec;
        assert.equal(pod.serviceAccountName, 'kubegate');
        assert.equal(pod.automountServiceAccountToken, true, 'kubegate forwards with the in-cluster token');
        assert.equal(pod.securityContext.runAsNonRoot, true);
        assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
        assert.ok(pod.topologySpreadConstraints.length > 0);
        const [container] = pod.containers;
        assert.deepEqual(container.securityContext, {
          allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true,
          capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' },
        });
        assert.deepEqual(container.ports.map((p: { name: string, containerPort: number }) => [p.name, p.containerPort]), [['https', 8443], ['metrics', 9090]]);
        assert.deepEqual(container.livenessProbe.httpGet, { path: '/livez', port: 'metrics' });
        assert.deepEqual(container.readinessProbe.httpGet, { path: '/readyz', port: 'metrics' });
        assert.ok(container.resources.requests.cpu && container.resources.requests.memory && container.resources.limits.memory);
        assert.deepEqual(container.args, ['--config', '/etc/kubegate/config/kubegate.yaml']);
        assert.ok(matches(deployment.spec.selector.matchLabels, deployment.spec.template.metadata.labels));
        const secrets = pod.volumes.filter((v: { secret?: unknown }) => v.secret).map((v: { secret: { secretName: string } }) => v.secret.secretName);
        assert.ok(secrets.includes('kubegate-tls') && secrets.includes('kubegate-oidc'), secrets.join());
      });

      it('exposes https and metrics on a Service that selects the pods, with a matching PDB', () => {
        const deployment = one(objects, 'Deployment', 'kubegate');
        const podLabels = deployment.spec.template.metadata.labels;
        const service = one(objects, 'Service', 'kubegate');
        assert.deepEqual(service.spec.ports.map((p: { name: string, port: number, targetPort: string }) => [p.name, p.port, p.targetPort]), [['https', 8443, 'https'], ['metrics', 9090, 'metrics']]);
        assert.ok(matches(service.spec.selector, podLabels));
        const pdb = one(objects, 'PodDisruptionBudget');
        assert.ok(matches(pdb.spec.selector.matchLabels, podLabels));
        for (const other of objects.filter((o) => o.kind === 'Deployment' && o !== deployment)) {
          assert.ok(!matches(service.spec.selector, other.spec.template.metadata.labels), `${other.metadata.name} must not receive kubegate traffic`);
        }
      });

      it('meets the restricted Pod Security Standard in every pod', () => {
        assert.equal(one(objects, 'Namespace', 'kubegate').metadata.labels!['pod-security.kubernetes.io/enforce'], 'restricted');
        for (const deployment of objects.filter((o) => o.kind === 'Deployment')) {
          const pod = deployment.spec.template.spec;
          assert.equal(pod.securityContext.runAsNonRoot, true, deployment.metadata.name);
          assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
          assert.equal(pod.hostNetwork ?? false, false);
          for (const container of pod.containers) {
            assert.equal(container.securityContext.allowPrivilegeEscalation, false);
            assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
            assert.equal(container.securityContext.readOnlyRootFilesystem, true);
          }
        }
      });

      it('mounts a kubegate config that uses only known keys and files the pod has', () => {
        const deployment = one(objects, 'Deployment', 'kubegate');
        const pod = deployment.spec.template.spec;
        const configMap = one(objects, 'ConfigMap');
        assert.match(configMap.metadata.name, /^kubegate-config-[a-z0-9]+$/, 'generated, with a content hash');
        assert.ok(pod.volumes.some((v: { configMap?: { name: string } }) => v.configMap?.name === configMap.metadata.name), 'the Deployment uses the generated name');
        const config = parse(configMap.data['kubegate.yaml']) as Record<string, Record<string, unknown>>;
        for (const [section, value] of Object.entries(config)) {
          assert.ok(section in CONFIG_KEYS, `unknown section ${section}`);
          const keys = CONFIG_KEYS[section];
          if (keys !== null) for (const key of Object.keys(value)) assert.ok(keys!.includes(key), `unknown key ${section}.${key}`);
        }
        assert.equal(config.oidc!.usernameClaim, 'email');
        assert.equal(config.metrics!.listen, '0.0.0.0:9090', 'probes come from outside the pod');
        assert.deepEqual(config.upstream, {}, 'in-cluster service account');
        // Every file the config names must be inside a volume the container mounts.
        const mounts: string[] = pod.containers[0].volumeMounts.map((m: { mountPath: string }) => m.mountPath);
        const files = [config.tls!.certFile, config.tls!.privateKeyFile, config.oidc!.caFile, config.login?.clientSecretFile, config.store?.redisPasswordFile]
          .filter((f): f is string => typeof f === 'string');
        for (const file of files) assert.ok(mounts.some((m) => posix.dirname(file) === m), `${file} is not in a mounted volume`);
        if (name === 'dex-classroom') {
          assert.equal(config.admin!.group, 'oidc:k8s-admins');
          const host = new URL(config.store!.redisUrl as string).hostname;
          assert.ok(objects.some((o) => o.kind === 'Service' && o.metadata.name === host), `redis Service ${host} is rendered`);
        } else {
          assert.equal(config.store, undefined, 'memory store');
        }
      });
    });
  }

  describe('opt-in components', () => {
    /** base + one component, rendered through a throwaway overlay (a Component cannot be built alone). */
    function withComponent (component: string): Manifest[] {
      const dir = mkdtempSync(join(tmpdir(), 'kubegate-component-'));
      try {
        writeFileSync(join(dir, 'kustomization.yaml'), [
          'apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization',
          // kustomize refuses absolute paths: relative ones from the throwaway directory.
          `resources: [${JSON.stringify(relative(dir, join(DEPLOY, 'base')))}]`,
          `components: [${JSON.stringify(relative(dir, join(DEPLOY, 'components', component)))}]`, '',
        ].join('\n'));
        return kustomize(kubectlOnPath(), dir);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const extraRules = (objects: Manifest[]): unknown[] => objects.filter((o) => o.kind === 'ClusterRole' && o.metadata.name !== 'kubegate-impersonator')
      .map((r) => [r.metadata.name, r.rules]);

    it('has exactly the two documented components', () => {
      assert.deepEqual(readdirSync(join(DEPLOY, 'components')).sort(), ['impersonation-targets', 'token-passthrough']);
    });

    it('token-passthrough adds create on tokenreviews only, bound to kubegate\'s service account', async () => {
      const objects = withComponent('token-passthrough');
      for (const object of objects) await validateManifest(object);
      assert.deepEqual(extraRules(objects), [['kubegate-token-reviewer', [{ apiGroups: ['authentication.k8s.io'], resources: ['tokenreviews'], verbs: ['create'] }]]]);
      const binding = one(objects, 'ClusterRoleBinding', 'kubegate-token-reviewer');
      assert.deepEqual(binding.subjects, [{ kind: 'ServiceAccount', name: 'kubegate', namespace: 'kubegate' }]);
    });

    it('impersonation-targets adds impersonate on serviceaccounts and uids only (never userextras/*)', async () => {
      const objects = withComponent('impersonation-targets');
      for (const object of objects) await validateManifest(object);
      assert.deepEqual(extraRules(objects), [['kubegate-impersonation-targets', [
        { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'] },
        { apiGroups: ['authentication.k8s.io'], resources: ['uids'], verbs: ['impersonate'] },
      ]]]);
      assert.deepEqual(one(objects, 'ClusterRoleBinding', 'kubegate-impersonation-targets').roleRef.name, 'kubegate-impersonation-targets');
    });
  });

  it('keeps each kubegate.yaml file and its rendered ConfigMap identical', () => {
    for (const name of overlays) {
      const objects = kustomize(kubectlOnPath(), join(DEPLOY, 'examples', name));
      const file = readFileSync(join(DEPLOY, 'examples', name, 'kubegate.yaml'), 'utf8');
      assert.equal(one(objects, 'ConfigMap').data['kubegate.yaml'], file);
    }
  });
});

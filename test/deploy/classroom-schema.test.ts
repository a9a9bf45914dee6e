import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderClassroom, toYaml } from '../../src/classroom/render.js';
import type { RenderOptions } from '../../src/classroom/render.js';
import { parseRoster } from '../../src/classroom/roster.js';
import { parseTemplate } from '../../src/classroom/template.js';
import { parseManifests, validateManifest } from './k8s-schema.js';

const ROSTER = [
  'email,namespace,group',
  'user01@example.com,,cs101-a',
  'a.b@x.org',
  'A_B@y.org',
  'José.García@uni.es',
  '李雷@example.cn',
  `${'long'.repeat(20)}@x.org`,
  'pinned@x.org,lab-7',
  'teacher@example.com,,instructors',
].join('\n');

const variants: Array<[string, RenderOptions]> = [
  ['defaults', {}],
  ['everything on', { clusterView: true, studentRole: 'custom', usernamePrefix: 'oidc:', groupsPrefix: 'oidc:', namespacePrefix: 'cs101-', className: 'cs101' }],
  ['edit, no policy, no instructors', { studentRole: 'edit', networkPolicy: false, instructorGroup: '' }],
  ['template', { studentRole: 'custom', template: parseTemplate('resourceQuota:\n  hard: { pods: "3", requests.cpu: 500m }\nlimitRange: null\nroleRules:\n  - apiGroups: [apps]\n    resources: [deployments]\n    verbs: ["*"]\n').template }],
];

describe('classroom render output against the Kubernetes OpenAPI schemas', () => {
  const { entries, problems } = parseRoster(ROSTER, 'csv');
  assert.deepEqual(problems, []);

  for (const [name, options] of variants) {
    it(`validates every object (${name})`, async () => {
      const plan = renderClassroom(entries, options);
      assert.deepEqual(plan.problems, []);
      // Validate what a teacher would pipe into kubectl: the YAML text, parsed back.
      const objects = parseManifests(toYaml(plan));
      assert.equal(objects.length, plan.objects.length);
      for (const object of objects) await validateManifest(object);
      for (const object of objects) {
        for (const [key, value] of Object.entries(object.metadata.labels ?? {})) {
          assert.match(value, /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/, `label ${key}`);
          assert.ok(value.length <= 63);
        }
        if (object.kind === 'Namespace') assert.match(object.metadata.name, /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      }
    });
  }
});

import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { flattenSchema } from '../../src/config/schema.js'
import { renderDoc } from '../../scripts/config-doc.js'

const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8')

test('docs/config.md reference table is generated from the current schema (run npm run docs:config)', () => {
  assert.equal(doc, renderDoc(doc))
})

test('every setting is documented with its YAML key, flag and environment variable', () => {
  for (const f of flattenSchema()) {
    assert.ok(doc.includes(`\`${f.path}\``), f.path)
    assert.ok(doc.includes(`\`--${f.flag}\``), f.flag)
    assert.ok(doc.includes(`\`${f.env}\``), f.env)
  }
})

test('flags mirror kube-apiserver\'s --oidc-* names', () => {
  const flags = new Set(flattenSchema().map((f) => f.flag))
  for (const f of ['oidc-issuer-url', 'oidc-client-id', 'oidc-ca-file', 'oidc-username-claim', 'oidc-username-prefix',
    'oidc-groups-claim', 'oidc-groups-prefix', 'oidc-signing-algs', 'oidc-required-claim']) {
    assert.ok(flags.has(f), f)
  }
})

// `kubegate rbac`: the derived ClusterRole from the --oidc-* flags or an AuthenticationConfiguration file, and its exit codes.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { after, describe, it } from 'node:test'
import { parseAllDocuments } from 'yaml'
import { runRbacCommand } from '../../../src/authn/cli.js'
import { file, jwt } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'kg-rbac-'))
after(() => rmSync(dir, { recursive: true, force: true }))

async function run (argv: string[]): Promise<{ code: number, out: string, err: string }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => { out += c.toString() })
  stderr.on('data', (c: Buffer) => { err += c.toString() })
  const code = await runRbacCommand(argv, { stdout, stderr, env: {} })
  return { code, out, err }
}

describe('kubegate rbac', () => {
  it('from the --oidc-* flags: users and groups, plus uids with --oidc-uid-claim', async () => {
    const r = await run(['--oidc-issuer-url=https://dex.example.com', '--oidc-client-id=kubegate', '--oidc-uid-claim=sub', '--namespace', 'auth'])
    assert.equal(r.code, 0, r.err)
    const [role, binding] = parseAllDocuments(r.out).map((d) => d.toJS())
    assert.deepEqual(role.rules.map((x: { resources: string[] }) => x.resources), [['users', 'groups'], ['uids']])
    assert.equal(binding.subjects[0].namespace, 'auth')
  })
  it('from an AuthenticationConfiguration file: exactly the mapped extra keys', async () => {
    const path = join(dir, 'authn.yaml')
    writeFileSync(path, file([jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'example.com/tenant', valueExpression: 'claims.t' }] } })]))
    const r = await run([`--authentication-config=${path}`, '--name', 'kg'])
    assert.equal(r.code, 0, r.err)
    const [role] = parseAllDocuments(r.out).map((d) => d.toJS())
    assert.equal(role.metadata.name, 'kg')
    assert.deepEqual(role.rules.at(-1).resources, ['userextras/example.com/tenant'])
  })
  it('a bad file: 1, every problem listed', async () => {
    const path = join(dir, 'bad.yaml')
    writeFileSync(path, file([jwt({ issuer: { url: 'http://x', audiences: [] } })]))
    const r = await run([`--authentication-config=${path}`])
    assert.equal(r.code, 1)
    assert.match(r.err, /jwt\[0\]\.issuer\.url: Invalid value: "http:\/\/x": URL scheme must be https/)
    assert.match(r.err, /jwt\[0\]\.issuer\.audiences: Required value/)
  })
  it('a missing value: 2', async () => assert.equal((await run(['--namespace'])).code, 2))
})

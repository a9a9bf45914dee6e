/**
 * The whole loop with real clients: an admin revokes a student with the `kubegate revoke` CLI (its token and
 * server from the admin's kubeconfig), and the student's real kubectl then prints "You must be logged in".
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { runRevocationCommand } from '../../../src/shared-state/cli.js'
import { kubectl, writeKubeconfig } from '../../helpers/kubectl.js'
import { createTempDir, getTestPki, issueServerCert } from '../../helpers/pki.js'
import { startStack, type Stack } from '../../helpers/stack.js'

function sink (): { stream: Writable, text: () => string } {
  let text = ''
  return { stream: new Writable({ write (c: Buffer, _e, cb) { text += c.toString(); cb() } }), text: () => text }
}

function runCli (args: string[], env: Record<string, string>): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { env: { ...process.env, ...env }, timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : null, stdout, stderr })
    })
  })
}

describe('real kubectl after a revocation', () => {
  let s: Stack
  let caFile: string
  before(async () => {
    // kubectl sends a bearer token only over TLS.
    const pki = await getTestPki()
    caFile = pki.caFile
    const cert = await issueServerCert(pki, 'kubegate')
    s = await startStack({ config: { tls: { certFile: cert.certFile, privateKeyFile: cert.keyFile }, admin: { group: 'instructors' }, log: { level: 'warn' } } })
  })
  after(async () => { await s?.close() })

  it('prints "You must be logged in to the server (Unauthorized: ...)" once its user is revoked', async () => {
    const student = await writeKubeconfig({ server: s.kg.url, caFile, token: await s.issuer.token({ email: 'user01@example.com', groups: ['students'] }), namespace: 'user01' })
    const adminKc = await writeKubeconfig({ server: s.kg.url, caFile, token: await s.issuer.token({ email: 'teacher@example.com', groups: ['instructors'] }) })

    const ok = await kubectl(['get', 'pods'], { kubeconfig: student })
    assert.equal(ok.code, 0, ok.stderr)

    // The real CLI entry point, token and server from the current kubeconfig context.
    const revoke = await runCli(['revoke', '--user', 'user01@example.com', '--reason', 'left the class'], { KUBECONFIG: adminKc })
    assert.equal(revoke.code, 0, revoke.stderr)
    // The truth about signing in again: refused up to the revocation time plus the clock skew (60 s here).
    const said = /^revoked user user01@example\.com at (\S+): tokens issued up to (\S+) are refused, a token issued after \2 is accepted \(sign in again after \2\); the revocation is kept until \S+\n$/.exec(revoke.stdout)
    assert.ok(said !== null, revoke.stdout)
    assert.equal(Date.parse(said[2] as string) - Date.parse(said[1] as string), 60_000)

    const refused = await kubectl(['get', 'pods'], { kubeconfig: student })
    assert.notEqual(refused.code, 0)
    assert.match(refused.stderr, /error: You must be logged in to the server \(Unauthorized: the credentials were revoked\)/)

    const out = sink()
    const err = sink()
    assert.equal(await runRevocationCommand('revocations', ['list', '--kubeconfig', adminKc], { stdout: out.stream, stderr: err.stream, env: {} }), 0, err.text())
    assert.match(out.text(), /^KIND +VALUE +REVOKED +EXPIRES +BY +REASON\nuser +user01@example\.com +\S+ +\S+ +teacher@example\.com +left the class\n$/)

    // A student cannot use the CLI against kubegate: 403 from the admin API.
    const dir = createTempDir('kubegate-cli-')
    const tokenFile = join(dir, 'token')
    await writeFile(tokenFile, await s.issuer.token({ email: 'user02@example.com' }) + '\n', { mode: 0o600 })
    const denied = sink()
    assert.equal(await runRevocationCommand('revocations', ['delete', '--user', 'user01@example.com', '--server', s.kg.url, '--ca-file', caFile, '--token-file', tokenFile], { stdout: sink().stream, stderr: denied.stream, env: {} }), 1)
    assert.match(denied.text(), /^error: 403 forbidden/)

    const del = sink()
    assert.equal(await runRevocationCommand('revocations', ['delete', '--user', 'user01@example.com', '--kubeconfig', adminKc], { stdout: del.stream, stderr: sink().stream, env: {} }), 0)
    assert.match(del.text(), /revocation of user user01@example\.com deleted/)
    const back = await kubectl(['get', 'pods'], { kubeconfig: student })
    assert.equal(back.code, 0, back.stderr)
  })
})

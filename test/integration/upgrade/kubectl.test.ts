/**
 * Real kubectl through kubegate: exec (WebSocket v5, and SPDY/3.1 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false),
 * kubectl cp both ways, refusals, port-forward. Every case also checks what the apiserver double received on
 * the wire: kubegate's service-account token, one Impersonate-User, one Impersonate-Group line per group, and
 * nothing of the user's own credential.
 */
import { after, before, describe, test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { headerLines, type RecordedUpgrade } from '../../helpers/apiserver.js'
import { KUBECTL, kubectl, kubectlBinary, kubectlOnPath, startKubectl, writeKubeconfig } from '../../helpers/kubectl.js'
import type { Stack } from '../../helpers/stack.js'
import { eventually, NS, OTHER_NS, OTHER_POD, POD, startUpgradeStack, USER } from './helpers.js'

const BINARIES = [kubectlOnPath(), kubectlBinary('1.31')]

/** What every request forwarded by kubegate for USER must carry, and what it must not. */
function assertKubegateIdentity (stack: Stack, rawHeaders: string[], userToken: string): void {
  assert.deepEqual(headerLines(rawHeaders, 'authorization'), [`Bearer ${stack.apiserver.token}`])
  assert.deepEqual(headerLines(rawHeaders, 'impersonate-user'), [USER])
  assert.deepEqual(headerLines(rawHeaders, 'impersonate-group'), ['students', 'dev'])
  const joined = rawHeaders.join('\n')
  assert.ok(!joined.includes(userToken), 'the user token never travels upstream')
  assert.ok(!joined.includes(Buffer.from(userToken).toString('base64url')), 'nor its subprotocol form')
}

describe('kubectl exec / cp / port-forward through kubegate', () => {
  let stack: Stack
  let token: string
  let kubeconfig: string

  before(async () => {
    stack = await startUpgradeStack()
    token = await stack.issuer.token({ email: USER, groups: ['students', 'dev'] })
    kubeconfig = await writeKubeconfig({ server: stack.kg.url, caFile: stack.caFile, token, namespace: NS })
  })
  after(async () => { await stack?.close() })

  for (const binary of BINARIES) {
    const name = binary === KUBECTL ? 'kubectl (dispatcher)' : binary.slice(binary.lastIndexOf('/') + 1)

    test(`${name}: echo hello | kubectl exec -i pod -- cat prints hello (WebSocket v5, stdin EOF reaches the pod)`, async () => {
      const before = stack.apiserver.upgrades.length
      const conns = stack.apiserver.connections
      const r = await kubectl(['exec', '-i', POD, '--', 'cat'], { kubeconfig, stdin: 'hello\n', binary })
      assert.equal(r.timedOut, false, r.stderr)
      assert.equal(r.code, 0, r.stderr)
      assert.equal(r.stdout, 'hello\n')
      const ups = stack.apiserver.upgrades.slice(before)
      assert.equal(ups.length, 1, 'one upgrade, accepted at the first attempt')
      const u = ups[0] as RecordedUpgrade
      assert.equal(u.protocol, 'websocket')
      assert.equal(u.negotiated, 'v5.channel.k8s.io')
      assert.deepEqual(u.offered, ['v5.channel.k8s.io'])
      assertKubegateIdentity(stack, u.rawHeaders, token)
      assert.deepEqual(u.identity.groups, ['students', 'dev', 'system:authenticated'])
      // The stdin channel carried the data and the v5 close message [255, 0] arrived.
      assert.ok(u.received.some((m) => m[0] === 0 && m.subarray(1).toString() === 'hello\n'))
      assert.ok(u.received.some((m) => m.length === 2 && m[0] === 255 && m[1] === 0))
      const exec = stack.apiserver.execs.at(-1)
      assert.equal(exec?.stdinClosed, true)
      assert.equal(exec?.exitCode, 0)
      // A fresh TLS connection for the upgrade, on top of whatever kubectl's discovery used.
      assert.ok(stack.apiserver.connections > conns)
    })

    test(`${name}: a non-zero exit code propagates`, async () => {
      const r = await kubectl(['exec', POD, '--', 'sh', '-c', 'exit 3'], { kubeconfig, binary })
      assert.equal(r.code, 3, r.stderr)
      assert.match(r.stderr, /command terminated with exit code 3/)
    })

    test(`${name}: kubectl cp both directions`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kubegate-cp-'))
      const local = join(dir, 'up.txt')
      const content = `kubegate cp ${name} ${Date.now()}\n` + 'x'.repeat(5000) + '\n'
      writeFileSync(local, content)
      const up = await kubectl(['cp', local, `${POD}:/tmp/up.txt`], { kubeconfig, binary, cwd: dir })
      assert.equal(up.code, 0, up.stderr)
      assert.equal((await stack.apiserver.podFiles.readFile(NS, POD, '/tmp/up.txt')).toString(), content)

      await stack.apiserver.podFiles.writeFile(NS, POD, '/tmp/down.txt', 'from the pod\n')
      const down = await kubectl(['cp', `${POD}:/tmp/down.txt`, join(dir, 'down.txt')], { kubeconfig, binary, cwd: dir })
      assert.equal(down.code, 0, down.stderr)
      assert.equal(readFileSync(join(dir, 'down.txt'), 'utf8'), 'from the pod\n')
      const tars = stack.apiserver.execs.filter((e) => e.command[0] === 'tar').slice(-2)
      assert.equal(tars.length, 2)
    })
  }

  test('exec into a pod the user may not exec into: the apiserver\'s Forbidden message', async () => {
    const before = stack.apiserver.requests.length
    const r = await kubectl(['exec', '-n', OTHER_NS, OTHER_POD, '--', 'cat'], { kubeconfig, binary: kubectlBinary('1.31') })
    assert.notEqual(r.code, 0)
    assert.match(r.stderr, /pods "web" is forbidden: User "user01@example\.com" cannot create resource "pods\/exec" in API group "" in the namespace "default"/)
    const ups = stack.apiserver.requests.slice(before).filter((q) => q.upgrade)
    // WebSocket first, then the SPDY retry; both refused by the apiserver, with kubegate's identity.
    assert.deepEqual(ups.map((q) => [q.method, q.statusCode]), [['GET', 403], ['POST', 403]])
    for (const q of ups) assertKubegateIdentity(stack, q.rawHeaders, token)
  })

  test('exec with an expired token: Unauthorized, nothing upstream', async () => {
    const expired = await stack.issuer.token({ email: USER, exp: Math.floor(Date.now() / 1000) - 120 })
    const kc = await writeKubeconfig({ server: stack.kg.url, caFile: stack.caFile, token: expired, namespace: NS })
    const before = stack.apiserver.requests.length
    const upgradesBefore = stack.apiserver.upgradeRequests
    const r = await kubectl(['exec', POD, '--', 'cat'], { kubeconfig: kc, binary: kubectlBinary('1.31') })
    assert.notEqual(r.code, 0)
    // kubectl prints the 401 Status message; it stops at discovery, the first thing exec does (the raw
    // upgrade answer to an expired token is asserted in security.test.ts).
    assert.match(r.stderr, /error: You must be logged in to the server \(Unauthorized\)/)
    assert.equal(stack.apiserver.upgradeRequests, upgradesBefore)
    assert.equal(stack.apiserver.requests.length, before)
  })

  test('KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false: the SPDY/3.1 upgrade reaches the double with kubegate\'s identity and is spliced', async () => {
    const before = stack.apiserver.upgrades.length
    const p = startKubectl(['exec', '-i', POD, '--', 'cat'], {
      kubeconfig, binary: kubectlBinary('1.31'), env: { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false' }, hardTimeoutMs: 20_000,
    })
    try {
      // The double speaks no SPDY frames: it records them. kubectl's SYN_STREAM frames arriving there prove the splice.
      const spliced = await eventually(() => {
        const u = stack.apiserver.upgrades.slice(before).find((x) => x.protocol === 'SPDY/3.1')
        return u !== undefined && u.received.length > 0
      }, 10_000)
      assert.ok(spliced, `no SPDY bytes reached the double; kubectl: ${p.stderr()}`)
      const ups = stack.apiserver.upgrades.slice(before)
      assert.equal(ups.length, 1, 'no WebSocket attempt first')
      const u = ups[0] as RecordedUpgrade
      // The first version kubectl offers that the double speaks (kubelet's order of preference is the client's).
      assert.equal(u.negotiated, u.offered[0])
      // Every X-Stream-Protocol-Version line reached the apiserver, each on its own line, in kubectl's order.
      assert.deepEqual(u.offered, ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'].filter((v) => u.offered.includes(v)))
      assert.ok(u.offered.length >= 4, `offered: ${u.offered.join(' ')}`)
      assert.deepEqual(headerLines(u.rawHeaders, 'upgrade'), ['SPDY/3.1'])
      assertKubegateIdentity(stack, u.rawHeaders, token)
      const first = Buffer.concat(u.received)
      // SPDY/3 control frame (bit 0x80, version 3), type SYN_STREAM (1).
      assert.deepEqual([...first.subarray(0, 4)], [0x80, 0x03, 0x00, 0x01])
    } finally {
      await p.stop()
    }
  })

  test('port-forward: the upgrade is recorded with kubegate\'s identity', async () => {
    const before = stack.apiserver.requests.length
    const p = startKubectl(['port-forward', POD, ':8080'], { kubeconfig, binary: kubectlBinary('1.31'), hardTimeoutMs: 20_000 })
    try {
      await p.waitFor(/Forwarding from 127\.0\.0\.1:\d+ -> 8080/, 15_000)
      const ups = stack.apiserver.requests.slice(before).filter((q) => q.upgrade && q.url.includes('/portforward'))
      assert.ok(ups.length >= 1)
      for (const q of ups) assertKubegateIdentity(stack, q.rawHeaders, token)
      const accepted = stack.apiserver.upgrades.find((u) => u.subresource === 'portforward' && u.accepted)
      assert.ok(accepted !== undefined, 'a port-forward upgrade was accepted and spliced')
      assert.equal(accepted.identity.user, USER)
    } finally {
      await p.stop()
    }
  })
})

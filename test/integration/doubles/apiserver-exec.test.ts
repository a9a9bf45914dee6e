import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import WebSocket from 'ws';
import { startApiServer } from '../../helpers/apiserver.js';
import type { ApiServerDouble } from '../../helpers/apiserver.js';

const AS_USER01 = { 'Impersonate-User': 'user01@example.com' };

interface Session {
  ws: WebSocket;
  protocol: string;
  frames: Buffer[];
  closed: Promise<number>;
}

function open(api: ApiServerDouble, path: string, protocols: string[], headers: Record<string, string> = AS_USER01): Promise<Session> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${api.url.replace('https:', 'wss:')}${path}`, protocols, {
      ca: api.caPem, headers: { Authorization: `Bearer ${api.token}`, ...headers }, perMessageDeflate: false,
    });
    const frames: Buffer[] = [];
    ws.on('message', (d: Buffer) => frames.push(Buffer.from(d)));
    const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
    ws.on('open', () => resolve({ ws, protocol: ws.protocol, frames, closed }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => reject(Object.assign(new Error(`HTTP ${res.statusCode}: ${body}`), { statusCode: res.statusCode, body })));
    });
    ws.on('error', reject);
  });
}

function channel(frames: Buffer[], ch: number): string {
  return Buffer.concat(frames.filter((f) => f[0] === ch).map((f) => f.subarray(1))).toString('utf8');
}

test('v5 exec: cat echoes stdin until [255,0], then Success on channel 3 and close 1000', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const s = await open(api, '/api/v1/namespaces/user01/pods/p/exec?command=cat&stdin=true&stdout=true&stderr=true', ['v5.channel.k8s.io']);
  assert.equal(s.protocol, 'v5.channel.k8s.io');
  s.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello ')]));
  s.ws.send(Buffer.concat([Buffer.from([0]), Buffer.from('world\n')]));
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(api.execs[0]?.exitCode, undefined, 'cat must wait for stdin EOF');
  s.ws.send(Buffer.from([255, 0]));
  assert.equal(await s.closed, 1000);
  assert.equal(channel(s.frames, 1), 'hello world\n');
  assert.deepEqual(JSON.parse(channel(s.frames, 3)), { metadata: {}, status: 'Success' });
  assert.deepEqual(s.frames[0], Buffer.from([1]), 'kubelet announces readiness with an empty stdout frame');
  assert.equal(api.execs[0]?.stdinClosed, true);
  assert.equal(api.execs[0]?.stdinBytes, 12);
  assert.equal(api.upgrades[0]?.identity.user, 'user01@example.com');
  assert.equal(api.requests[0]?.statusCode, 101);
});

test('exit code arrives as a NonZeroExitCode Status; v4 is negotiated when offered first', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const s = await open(api, "/api/v1/namespaces/user01/pods/p/exec?command=sh&command=-c&command=exit%203&stdout=true&stderr=true", ['v4.channel.k8s.io', 'v5.channel.k8s.io']);
  assert.equal(s.protocol, 'v4.channel.k8s.io');
  assert.equal(await s.closed, 1000);
  const st = JSON.parse(channel(s.frames, 3)) as Record<string, unknown>;
  assert.equal(st.status, 'Failure');
  assert.equal(st.reason, 'NonZeroExitCode');
  assert.match(String(st.message), /^command terminated with non-zero exit code: /);
  assert.deepEqual(st.details, { causes: [{ reason: 'ExitCode', message: '3' }] });
  const e = await open(api, '/api/v1/namespaces/user01/pods/p/exec?command=echo&command=a&command=b&stdout=true', ['v5.channel.k8s.io']);
  await e.closed;
  assert.equal(channel(e.frames, 1), 'a b\n');
  const missing = await open(api, '/api/v1/namespaces/user01/pods/p/exec?command=nope&stdout=true&stderr=true', ['v5.channel.k8s.io']);
  await missing.closed;
  assert.match(channel(missing.frames, 2), /nope: not found/);
  assert.equal(api.execs.at(-1)?.exitCode, 127);
});

test('refusals happen before the upgrade: 401, 403 Forbidden, 404 pod, unsupported protocol', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }, { namespace: 'default', name: 'd' }] });
  t.after(() => api.close());
  await assert.rejects(open(api, '/api/v1/namespaces/user01/pods/p/exec?command=ls', ['v5.channel.k8s.io'], { Authorization: 'Bearer nope' }),
    (e: { statusCode: number }) => e.statusCode === 401);
  await assert.rejects(open(api, '/api/v1/namespaces/default/pods/d/exec?command=ls', ['v5.channel.k8s.io']), (e: { statusCode: number; body: string }) => {
    assert.equal(e.statusCode, 403);
    // A WebSocket handshake is a GET, so the apiserver (1.31) checks verb `get` on pods/exec;
    // SPDY upgrades are POSTs and need `create`.
    assert.equal(JSON.parse(e.body).message, 'pods "d" is forbidden: User "user01@example.com" cannot get resource "pods/exec" in API group "" in the namespace "default"');
    return true;
  });
  await assert.rejects(open(api, '/api/v1/namespaces/user01/pods/zz/exec?command=ls', ['v5.channel.k8s.io']), (e: { statusCode: number }) => e.statusCode === 404);
  await assert.rejects(open(api, '/api/v1/namespaces/user01/pods/p/exec?command=ls', ['v1.channel.k8s.io']), (e: { statusCode: number }) => e.statusCode === 400);
  assert.equal(api.execs.length, 0);
  assert.equal(api.upgradeRequests, 4);
  assert.equal(api.upgrades.filter((u) => u.accepted).length, 0);
});

test('SPDY/3.1: 101 with the first offered supported version (separate header lines), bytes recorded', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const socket = connect({ host: '127.0.0.1', port: Number(new URL(api.url).port), ca: api.caPem, servername: 'localhost' });
  t.after(() => socket.destroy());
  await new Promise<void>((r) => socket.once('secureConnect', () => r()));
  let got = '';
  socket.on('data', (d: Buffer) => { got += d.toString('latin1'); });
  socket.write(['POST /api/v1/namespaces/user01/pods/p/exec?command=cat&stdin=true&stdout=true HTTP/1.1', 'Host: x',
    `Authorization: Bearer ${api.token}`, 'Impersonate-User: user01@example.com', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    'X-Stream-Protocol-Version: v9.channel.k8s.io', 'X-Stream-Protocol-Version: v4.channel.k8s.io',
    'X-Stream-Protocol-Version: channel.k8s.io', 'Content-Length: 0', '', ''].join('\r\n'));
  const deadline = Date.now() + 3000;
  while (!got.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  assert.match(got, /\r\nConnection: Upgrade\r\n/);
  assert.match(got, /\r\nUpgrade: SPDY\/3\.1\r\n/);
  assert.match(got, /\r\nX-Stream-Protocol-Version: v4\.channel\.k8s\.io\r\n/);
  socket.write(Buffer.from([0x80, 0x03, 0x00, 0x01, 1, 2, 3]));
  while (api.upgrades[0]?.received.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const u = api.upgrades[0];
  assert.equal(u?.protocol, 'SPDY/3.1');
  assert.deepEqual(u?.offered, ['v9.channel.k8s.io', 'v4.channel.k8s.io', 'channel.k8s.io']);
  assert.equal(u?.negotiated, 'v4.channel.k8s.io');
  assert.deepEqual(Buffer.concat(u?.received ?? []), Buffer.from([0x80, 0x03, 0x00, 0x01, 1, 2, 3]));
  assert.equal(u?.identity.user, 'user01@example.com');
  // One comma-joined line is one (unknown) protocol, as in Go: 403.
  const s2 = connect({ host: '127.0.0.1', port: Number(new URL(api.url).port), ca: api.caPem, servername: 'localhost' });
  t.after(() => s2.destroy());
  let got2 = '';
  s2.on('data', (d: Buffer) => { got2 += d.toString('latin1'); });
  await new Promise<void>((r) => s2.once('secureConnect', () => r()));
  s2.write(['POST /api/v1/namespaces/user01/pods/p/exec?command=cat HTTP/1.1', 'Host: x', `Authorization: Bearer ${api.token}`,
    'Impersonate-User: user01@example.com', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    'X-Stream-Protocol-Version: v4.channel.k8s.io, v3.channel.k8s.io', '', ''].join('\r\n'));
  while (!got2.includes('\r\n\r\n') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.match(got2, /^HTTP\/1\.1 403 /);
  assert.match(got2, /unable to negotiate protocol/);
});

test('port-forward over WebSocket: port header frames, then data echoed per port', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  const s = await open(api, '/api/v1/namespaces/user01/pods/p/portforward?ports=8080&ports=9090', ['v4.channel.k8s.io']);
  const deadline = Date.now() + 2000;
  while (s.frames.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(s.frames.slice(0, 4), [Buffer.from([0, 0x90, 0x1f]), Buffer.from([1, 0x90, 0x1f]), Buffer.from([2, 0x82, 0x23]), Buffer.from([3, 0x82, 0x23])]);
  s.ws.send(Buffer.from([2, 0x41, 0x42]));
  while (s.frames.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(s.frames[4], Buffer.from([2, 0x41, 0x42]));
  s.ws.close();
  await s.closed;
});

test('kubectl cp building blocks: tar x into the pod and tar c out of it', async (t) => {
  const api = await startApiServer({ pods: [{ namespace: 'user01', name: 'p' }] });
  t.after(() => api.close());
  await api.podFiles.writeFile('user01', 'p', '/data/a.txt', 'alpha\n');
  const out = await open(api, '/api/v1/namespaces/user01/pods/p/exec?command=tar&command=cf&command=-&command=%2Fdata%2Fa.txt&stdout=true&stderr=true', ['v5.channel.k8s.io']);
  await out.closed;
  const tarBytes = Buffer.concat(out.frames.filter((f) => f[0] === 1).map((f) => f.subarray(1)));
  assert.equal(tarBytes.subarray(0, 10).toString('latin1'), 'data/a.txt');
  assert.ok(tarBytes.includes(Buffer.from('alpha\n')));
  // Feed the same archive back into another directory.
  const into = await open(api, '/api/v1/namespaces/user01/pods/p/exec?command=tar&command=xmf&command=-&command=-C&command=%2Fcopy&stdin=true&stdout=true&stderr=true', ['v5.channel.k8s.io']);
  into.ws.send(Buffer.concat([Buffer.from([0]), tarBytes]));
  into.ws.send(Buffer.from([255, 0]));
  await into.closed;
  assert.deepEqual(JSON.parse(channel(into.frames, 3)), { metadata: {}, status: 'Success' });
  assert.equal((await api.podFiles.readFile('user01', 'p', '/copy/data/a.txt')).toString(), 'alpha\n');
  // `..` cannot climb out of the pod's root, like a chroot.
  const root = api.podFiles.root('user01', 'p');
  assert.equal(api.podFiles.resolve('user01', 'p', '../../../etc/passwd'), `${root}/etc/passwd`);
});

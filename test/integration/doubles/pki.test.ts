import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { createServer } from 'node:https';
import { existsSync, statSync } from 'node:fs';
import { createTestPki, createUntrustedPki, getTestPki } from '../../helpers/pki.js';
import { httpsRequest } from '../../helpers/https-get.js';

test('issues a leaf with the default SANs, signed by the CA', async () => {
  const pki = await getTestPki();
  const leaf = await pki.issue('pki-selftest-leaf');
  const cert = new X509Certificate(leaf.certPem);
  const ca = new X509Certificate(pki.caPem);
  assert.equal(cert.verify(ca.publicKey), true);
  assert.equal(cert.checkIssued(ca), true);
  assert.equal(cert.ca, false);
  assert.equal(ca.ca, true);
  assert.equal(cert.subjectAltName, 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
  assert.ok(existsSync(leaf.keyFile));
  assert.equal(statSync(leaf.keyFile).mode & 0o077, 0, 'key file must not be world/group readable');
  assert.ok(leaf.keyPem.includes('PRIVATE KEY'));
});

test('getTestPki is memoised; createTestPki makes an independent CA', async () => {
  const [a, b] = await Promise.all([getTestPki(), getTestPki()]);
  assert.equal(a, b);
  const other = await createUntrustedPki();
  assert.notEqual(other.caPem, a.caPem);
  const leaf = await other.issue('untrusted-leaf');
  assert.equal(new X509Certificate(leaf.certPem).checkIssued(new X509Certificate(a.caPem)), false);
});

test('custom SANs and a second issue of the same name is refused', async () => {
  const pki = await createTestPki();
  const leaf = await pki.issue('custom', ['DNS:apiserver.test']);
  assert.equal(new X509Certificate(leaf.certPem).subjectAltName, 'DNS:apiserver.test');
  await assert.rejects(pki.issue('custom'), /already issued/);
  await assert.rejects(pki.issue('../evil'), /bad certificate name/);
});

test('TLS: trusted CA connects, untrusted CA is refused', async () => {
  const pki = await getTestPki();
  const untrusted = await createUntrustedPki();
  const good = await pki.issue('pki-selftest-tls');
  const bad = await untrusted.issue('pki-selftest-tls-bad');
  for (const [leaf, ok] of [[good, true], [bad, false]] as const) {
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (_req, res) => res.end('ok'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      if (ok) {
        const res = await httpsRequest(`https://127.0.0.1:${port}/`, { ca: pki.caPem });
        assert.equal(res.text, 'ok');
        const res6 = await httpsRequest(`https://localhost:${port}/`, { ca: pki.caPem });
        assert.equal(res6.text, 'ok');
      } else {
        await assert.rejects(httpsRequest(`https://127.0.0.1:${port}/`, { ca: pki.caPem }), /certificate/);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  }
});

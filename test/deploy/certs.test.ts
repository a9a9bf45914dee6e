import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

const SCRIPT = join(import.meta.dirname, '..', '..', 'certs', 'make-dev-certs.sh');

describe('certs/make-dev-certs.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-certs-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const make = (...sans: string[]): void => {
    execFileSync('bash', [SCRIPT, ...sans], { env: { ...process.env, OUT_DIR: dir }, stdio: 'pipe' });
  };

  it('makes a CA and a serving certificate with the default SANs', () => {
    make();
    const ca = new X509Certificate(readFileSync(join(dir, 'ca.crt')));
    const cert = new X509Certificate(readFileSync(join(dir, 'tls.crt')));
    assert.equal(ca.ca, true);
    assert.equal(cert.ca, false);
    assert.ok(cert.verify(ca.publicKey), 'signed by the CA');
    assert.ok(cert.checkIssued(ca));
    for (const host of ['localhost', 'kubegate.kubegate.svc', 'kubegate.kubegate.svc.cluster.local']) assert.equal(cert.checkHost(host), host);
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(cert.checkHost('127.0.0.1'), undefined, 'an IP is an IP SAN, not a DNS name');
    assert.ok(cert.keyUsage?.includes('1.3.6.1.5.5.7.3.1'), 'serverAuth');
    const key = createPrivateKey(readFileSync(join(dir, 'tls.key')));
    assert.ok(cert.checkPrivateKey(key));
    assert.equal(statSync(join(dir, 'tls.key')).mode & 0o077, 0, 'private key readable by its owner only');
  });

  it('uses the SANs given as arguments and keeps the existing CA', () => {
    const before = readFileSync(join(dir, 'ca.crt'), 'utf8');
    make('kubegate.example.com', '10.0.0.5');
    const cert = new X509Certificate(readFileSync(join(dir, 'tls.crt')));
    assert.equal(cert.checkHost('kubegate.example.com'), 'kubegate.example.com');
    assert.equal(cert.checkIP('10.0.0.5'), '10.0.0.5');
    assert.equal(cert.checkHost('localhost'), undefined);
    assert.equal(readFileSync(join(dir, 'ca.crt'), 'utf8'), before, 'kubeconfigs that trust the CA keep working');
  });

  it('refuses a SAN that is neither a DNS name nor an IP address', () => {
    const result = spawnSync('bash', [SCRIPT, 'not a host!'], { env: { ...process.env, OUT_DIR: dir }, encoding: 'utf8' });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /not a DNS name or IP address/);
  });
});

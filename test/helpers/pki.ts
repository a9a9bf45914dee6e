/**
 * Throw-away PKI for tests: a CA and leaf certificates made at run time with the
 * openssl CLI, in a private temp directory that is removed when the process exits.
 *
 * Why openssl and not a JS X.509 library: it is on every machine already, it is what
 * an operator would use, and Go (kubectl) and Node both accept what it produces. Keys
 * are never written anywhere but os.tmpdir(), so nothing secret can be committed.
 *
 * Keys are ECDSA P-256: generation is instant (RSA-2048 costs ~100 ms each) and both
 * Go's and OpenSSL's TLS stacks support it everywhere.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A certificate and its key, as files (for configs and CLIs) and as PEM text. */
export interface IssuedCert {
  certFile: string;
  keyFile: string;
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  /** Private temp directory holding every file of this PKI. */
  dir: string;
  caPem: string;
  caFile: string;
  /**
   * Issue a leaf certificate (serverAuth + clientAuth) signed by this CA.
   * @param name common name; also the file stem, so keep it to [a-z0-9-]
   * @param sans openssl subjectAltName entries; default `DNS:localhost, IP:127.0.0.1, IP:::1`
   */
  issue(name: string, sans?: string[]): Promise<IssuedCert>;
}

export const DEFAULT_SANS: readonly string[] = ['DNS:localhost', 'IP:127.0.0.1', 'IP:::1'];

/*
 * A minimal config replaces the system openssl.cnf: with `req -x509` the system file
 * would add its `v3_ca` extensions (CA:TRUE) to leaf certificates too.
 */
const OPENSSL_CNF = `[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
`;

const tempDirs = new Set<string>();
let cleanupInstalled = false;

function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.add(dir);
  if (!cleanupInstalled) {
    cleanupInstalled = true;
    // 'exit' handlers must be synchronous; rmSync is.
    process.once('exit', () => {
      for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
    });
  }
  return dir;
}

/** Create a temp directory that is removed when the process exits (shared by the other helpers). */
export function createTempDir(prefix = 'kubegate-test-'): string {
  return makeTempDir(prefix);
}

const ISSUE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Create a new, independent CA. Two calls give two CAs that do not trust each other,
 * which is how "untrusted CA" tests get their wrong certificate.
 */
export async function createTestPki(options: { caName?: string } = {}): Promise<TestPki> {
  const dir = makeTempDir('kubegate-pki-');
  const cnf = join(dir, 'openssl.cnf');
  await writeFile(cnf, OPENSSL_CNF, { mode: 0o600 });
  const caFile = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const caName = options.caName ?? 'kubegate-test-ca';
  await run('openssl', [
    'req', '-config', cnf, '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', caKey, '-out', caFile, '-days', '2', '-subj', `/CN=${caName}`, '-extensions', 'ca_ext',
  ], { timeout: 10_000 });
  const caPem = await readFile(caFile, 'utf8');
  const issued = new Set<string>();

  return {
    dir,
    caPem,
    caFile,
    async issue(name, sans = [...DEFAULT_SANS]) {
      if (!ISSUE_NAME.test(name)) throw new Error(`pki: bad certificate name ${JSON.stringify(name)}`);
      if (issued.has(name)) throw new Error(`pki: ${name} already issued by this CA`);
      issued.add(name);
      const certFile = join(dir, `${name}.crt`);
      const keyFile = join(dir, `${name}.key`);
      const args = [
        'req', '-config', cnf, '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
        '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', `/CN=${name}`,
        '-CA', caFile, '-CAkey', caKey,
        '-addext', 'basicConstraints=critical,CA:FALSE',
        '-addext', 'keyUsage=critical,digitalSignature',
        '-addext', 'extendedKeyUsage=serverAuth,clientAuth',
      ];
      // Go refuses certificates without SANs (no CN fallback since Go 1.15), so an empty list is
      // honoured only when the caller asks for it explicitly — that is how such a test is written.
      if (sans.length > 0) args.push('-addext', `subjectAltName=${sans.join(',')}`);
      await run('openssl', args, { timeout: 10_000 });
      const [certPem, keyPem] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
      return { certFile, keyFile, certPem, keyPem };
    },
  };
}

let shared: Promise<TestPki> | undefined;

/** The process-wide default PKI (made once: openssl costs tens of milliseconds per call). */
export function getTestPki(): Promise<TestPki> {
  shared ??= createTestPki();
  return shared;
}

/** A CA that is not the default one: certificates it issues must be refused by anyone trusting getTestPki(). */
export function createUntrustedPki(): Promise<TestPki> {
  return createTestPki({ caName: 'untrusted-test-ca' });
}

/**
 * Issue a leaf from the default PKI under a unique file name. Servers in one process each
 * need their own certificate file name, never their own CA.
 */
let serial = 0;
export async function issueServerCert(pki?: TestPki, prefix = 'server', sans?: string[]): Promise<IssuedCert> {
  const p = pki ?? await getTestPki();
  serial += 1;
  return p.issue(`${prefix}-${process.pid}-${serial}`, sans);
}

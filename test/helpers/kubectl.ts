/**
 * Running the real kubectl in tests: kubeconfig files, one-shot runs with a timeout, and
 * long-running processes (watch, port-forward) that a test can wait on and stop.
 *
 * Where the client version does not matter a test runs the first `kubectl` on PATH (kubectlOnPath()).
 * On these machines that is `/usr/bin/kubectl`, a version dispatcher: it asks the server's `/version`
 * first and then runs the matching binary from /usr/lib/google-cloud-sdk/bin. Tests that need one exact
 * client use kubectlBinary('1.31'). A missing kubectl fails the test with a message saying what to
 * install: no test skips itself on a machine without one.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { delimiter, join } from 'node:path';
import { stringify } from 'yaml';
import { createTempDir } from './pki.js';

export const KUBECTL = '/usr/bin/kubectl';

/**
 * Path of one versioned kubectl (`1.27` … `1.33`) of this machine image. Throws when it is missing, so a
 * test that needs that exact client fails saying so instead of being skipped.
 */
export function kubectlBinary(minor: string): string {
  const path = `/usr/lib/google-cloud-sdk/bin/kubectl.${minor}`;
  if (!isExecutableFile(path)) {
    throw new Error(`${path} is missing: this test needs kubectl ${minor} exactly (the machine image provides /usr/lib/google-cloud-sdk/bin/kubectl.1.27 … 1.33)`);
  }
  return path;
}

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

let onPath: string | undefined;

/**
 * The first executable `kubectl` on PATH, for tests where any client version from 1.27 on will do.
 * Throws when there is none: kubectl is a stated requirement of `npm test` (README), never a reason to skip.
 */
export function kubectlOnPath(): string {
  onPath ??= (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '')
    .map((d) => join(d, 'kubectl')).find(isExecutableFile);
  if (onPath === undefined) throw new Error(`no kubectl on PATH (${process.env.PATH ?? ''}): npm test needs one (README, Requirements)`);
  return onPath;
}

export function hasKubectl(binary = KUBECTL): boolean {
  return existsSync(binary);
}

export interface KubeconfigOptions {
  server: string;
  caFile?: string;
  caPem?: string;
  token?: string;
  tokenFile?: string;
  /** kubeconfig `as:` — kubectl then sends Impersonate-User itself. */
  as?: string;
  asGroups?: string[];
  namespace?: string;
  /** A client-go exec credential plugin (e.g. to hand out fresh ID tokens). */
  exec?: { command: string; args?: string[]; env?: Array<{ name: string; value: string }>; apiVersion?: string };
}

let kubeDir: string | undefined;
let counter = 0;

function dir(): string {
  kubeDir ??= createTempDir('kubegate-kube-');
  return kubeDir;
}

/** Write a kubeconfig with one cluster/user/context and return its path. */
export async function writeKubeconfig(o: KubeconfigOptions): Promise<string> {
  const cluster: Record<string, unknown> = { server: o.server };
  if (o.caFile !== undefined) cluster['certificate-authority'] = o.caFile;
  if (o.caPem !== undefined) cluster['certificate-authority-data'] = Buffer.from(o.caPem).toString('base64');
  const user: Record<string, unknown> = {};
  if (o.token !== undefined) user.token = o.token;
  if (o.tokenFile !== undefined) user.tokenFile = o.tokenFile;
  if (o.as !== undefined) user.as = o.as;
  if (o.asGroups !== undefined) user['as-groups'] = o.asGroups;
  if (o.exec !== undefined) {
    user.exec = {
      apiVersion: o.exec.apiVersion ?? 'client.authentication.k8s.io/v1', command: o.exec.command,
      args: o.exec.args ?? [], env: o.exec.env ?? null, interactiveMode: 'Never', provideClusterInfo: false,
    };
  }
  const context: Record<string, unknown> = { cluster: 'test', user: 'test' };
  if (o.namespace !== undefined) context.namespace = o.namespace;
  const doc = {
    apiVersion: 'v1', kind: 'Config', 'current-context': 'test',
    clusters: [{ name: 'test', cluster }], users: [{ name: 'test', user }], contexts: [{ name: 'test', context }],
  };
  counter += 1;
  const path = join(dir(), `kubeconfig-${counter}.yaml`);
  await writeFile(path, stringify(doc), { mode: 0o600 });
  return path;
}

export interface KubectlOptions {
  kubeconfig: string;
  stdin?: string | Buffer;
  env?: Record<string, string>;
  /** Default 20 s: every run is bounded. */
  timeoutMs?: number;
  binary?: string;
  cwd?: string;
}

export interface KubectlResult {
  /** Exit code; null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function kubectlEnv(o: KubectlOptions): NodeJS.ProcessEnv {
  const home = dir();
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    // A private HOME keeps ~/.kube/cache (discovery cache) from leaking between tests and runs.
    HOME: home,
    KUBECONFIG: o.kubeconfig,
    KUBECACHEDIR: join(home, `cache-${process.pid}`),
    ...o.env,
  };
}

/** Run kubectl to completion (or timeout). Never rejects on a non-zero exit: assert on `code`. */
export function kubectl(args: string[], o: KubectlOptions): Promise<KubectlResult> {
  return new Promise((resolve) => {
    const child = execFile(o.binary ?? kubectlOnPath(), args, {
      env: kubectlEnv(o), timeout: o.timeoutMs ?? 20_000, killSignal: 'SIGKILL', maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8', cwd: o.cwd,
    }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean; signal?: string }) | null;
      const timedOut = e?.killed === true && e.signal === 'SIGKILL';
      resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : null, stdout, stderr, timedOut });
    });
    if (o.stdin !== undefined) child.stdin?.end(o.stdin);
    else child.stdin?.end();
  });
}

export interface KubectlProcess {
  child: ChildProcessWithoutNullStreams;
  stdout(): string;
  stderr(): string;
  /** Resolve when stdout+stderr match `re`; reject after timeoutMs or when the process exits first. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolve with the exit code (null if killed by a signal). */
  exited: Promise<number | null>;
  /** SIGKILL it (idempotent) and wait for exit. */
  stop(): Promise<void>;
}

/** Start a long-running kubectl (`get -w`, `port-forward`, `exec -i` with a live stdin). */
export function startKubectl(args: string[], o: KubectlOptions & { hardTimeoutMs?: number }): KubectlProcess {
  const child = spawn(o.binary ?? kubectlOnPath(), args, { env: kubectlEnv(o), cwd: o.cwd, stdio: 'pipe' });
  let out = '';
  let err = '';
  const listeners = new Set<() => void>();
  child.stdout.on('data', (d: Buffer) => { out += d.toString('utf8'); for (const l of listeners) l(); });
  child.stderr.on('data', (d: Buffer) => { err += d.toString('utf8'); for (const l of listeners) l(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { for (const l of listeners) l(); resolve(code); }));
  // A hard cap so a forgotten process can never outlive the test file.
  const hard = setTimeout(() => child.kill('SIGKILL'), o.hardTimeoutMs ?? 60_000);
  hard.unref();
  void exited.then(() => clearTimeout(hard));
  if (o.stdin !== undefined) child.stdin.write(o.stdin);
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(out + err);
          if (m !== null) {
            done();
            resolve(m[0]);
          } else if (child.exitCode !== null || child.signalCode !== null) {
            done();
            reject(new Error(`kubectl exited before ${re}: stdout=${out} stderr=${err}`));
          }
        };
        const timer = setTimeout(() => { done(); reject(new Error(`timeout waiting for ${re}: stdout=${out} stderr=${err}`)); }, timeoutMs);
        const done = (): void => { clearTimeout(timer); listeners.delete(check); };
        listeners.add(check);
        check();
      });
    },
    exited,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

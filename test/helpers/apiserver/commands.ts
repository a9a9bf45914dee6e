/**
 * The tiny "container" behind exec/attach: a handful of commands, enough for what kubectl
 * and kubegate's tests run — `cat`, `echo`, `sh -c 'exit N'`, `test`, `ls`, `sleep`, and
 * `tar` (the real binary, rooted in the pod's directory) for `kubectl cp`.
 */
import { spawn } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import type { PodFilesystems } from './pod-fs.js';

export interface CommandIo {
  namespace: string;
  pod: string;
  files: PodFilesystems;
  /** Resolves on stdin EOF; delivers chunks to `onStdin` meanwhile. */
  stdin: StdinSource;
  stdout(data: Buffer | string): void;
  stderr(data: Buffer | string): void;
  /** Aborted when the client goes away. */
  signal: AbortSignal;
}

/** Push-to-pull adapter for the stdin channel. */
export class StdinSource {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private waiter: (() => void) | undefined;
  bytes = 0;

  push(data: Buffer): void {
    if (this.ended) return;
    this.bytes += data.length;
    this.chunks.push(data);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  get isEnded(): boolean {
    return this.ended;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  /** Yields chunks until EOF or abort. */
  async *read(signal: AbortSignal): AsyncGenerator<Buffer> {
    for (;;) {
      const c = this.chunks.shift();
      if (c !== undefined) {
        yield c;
        continue;
      }
      if (this.ended || signal.aborted) return;
      // The abort listener is removed once data arrives: one per wait would pile up on a long stream.
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.waiter = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
    }
  }
}

const NOT_FOUND_EXIT = 127;

function tarArgs(argv: string[]): { mode: 'x' | 'c'; dir: string; paths: string[] } | undefined {
  // kubectl cp sends `tar cf - <src>` and `tar xmf - -C <dir>` (older: `tar -xmf - -C <dir>`, `tar -cf - <src>`).
  let mode: 'x' | 'c' | undefined;
  let dir = '/';
  const paths: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (i === 1 || (a.startsWith('-') && a !== '-' && a !== '-C')) {
      const flags = a.replace(/^-/, '');
      if (flags.includes('x')) mode = 'x';
      else if (flags.includes('c')) mode = 'c';
      // `f` takes the next argument (always "-" from kubectl).
      if (flags.includes('f')) i += 1;
    } else if (a === '-C') {
      dir = argv[i + 1] ?? '/';
      i += 1;
    } else {
      paths.push(a);
    }
  }
  return mode === undefined ? undefined : { mode, dir, paths };
}

async function runTar(argv: string[], io: CommandIo): Promise<number> {
  const parsed = tarArgs(argv);
  if (parsed === undefined) {
    io.stderr('tar: You must specify one of the \'-Acdtrux\' options\n');
    return 2;
  }
  const root = io.files.root(io.namespace, io.pod);
  let args: string[];
  if (parsed.mode === 'x') {
    const dest = io.files.resolve(io.namespace, io.pod, parsed.dir);
    await mkdir(dest, { recursive: true });
    args = ['-x', '-m', '-f', '-', '-C', dest, '--no-same-owner', '--no-same-permissions'];
  } else {
    // Relative member names, as GNU tar produces after "Removing leading `/' from member names".
    const rel = parsed.paths.map((p) => {
      io.files.resolve(io.namespace, io.pod, p); // throws on escape
      return p.replace(/^\/+/, '') || '.';
    });
    args = ['-c', '-f', '-', '-C', root, ...rel];
  }
  return new Promise<number>((resolve) => {
    const child = spawn('tar', args, { stdio: ['pipe', 'pipe', 'pipe'], signal: io.signal });
    child.stdout.on('data', (d: Buffer) => io.stdout(d));
    child.stderr.on('data', (d: Buffer) => io.stderr(d));
    child.on('error', () => resolve(2));
    child.on('close', (code) => resolve(code ?? 2));
    child.stdin.on('error', () => { /* tar may exit before reading all input */ });
    if (parsed.mode === 'x') {
      void (async () => {
        for await (const c of io.stdin.read(io.signal)) {
          if (!child.stdin.write(c)) await new Promise((r) => child.stdin.once('drain', r));
        }
        child.stdin.end();
      })();
    } else {
      child.stdin.end();
    }
  });
}

/** Run one command line; resolves with its exit code. */
export async function runCommand(argv: string[], io: CommandIo): Promise<number> {
  const [cmd, ...args] = argv;
  switch (cmd) {
    case undefined:
      io.stderr('no command given\n');
      return NOT_FOUND_EXIT;
    case 'cat': {
      if (args.length === 0) {
        for await (const c of io.stdin.read(io.signal)) io.stdout(c);
        return 0;
      }
      let code = 0;
      for (const f of args) {
        try {
          io.stdout(await io.files.readFile(io.namespace, io.pod, f));
        } catch {
          io.stderr(`cat: ${f}: No such file or directory\n`);
          code = 1;
        }
      }
      return code;
    }
    case 'echo':
      io.stdout(`${args.join(' ')}\n`);
      return 0;
    case 'true':
      return 0;
    case 'false':
      return 1;
    case 'sleep': {
      const ms = Math.min(Number(args[0] ?? '0') * 1000, 60_000);
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        io.signal.addEventListener('abort', () => { clearTimeout(t); r(); }, { once: true });
      });
      return 0;
    }
    case 'test': {
      const [flag, path] = args;
      if (path === undefined) return 1;
      const kind = await io.files.kind(io.namespace, io.pod, path);
      if (flag === '-d') return kind === 'dir' ? 0 : 1;
      if (flag === '-f') return kind === 'file' ? 0 : 1;
      return kind !== undefined ? 0 : 1;
    }
    case 'ls': {
      const path = args.find((a) => !a.startsWith('-')) ?? '/';
      try {
        const names = await io.files.list(io.namespace, io.pod, path);
        io.stdout(names.map((n) => `${n}\n`).join(''));
        return 0;
      } catch {
        io.stderr(`ls: ${path}: No such file or directory\n`);
        return 1;
      }
    }
    case 'tar':
      return runTar(argv, io);
    case 'sh':
    case '/bin/sh':
    case 'bash': {
      if (args[0] !== '-c' || args[1] === undefined) {
        // An interactive shell: behave like `cat` so `kubectl exec -it p -- sh` has something to talk to.
        for await (const c of io.stdin.read(io.signal)) io.stdout(c);
        return 0;
      }
      const script = args[1].trim();
      const exit = /^exit\s+(\d+)$/.exec(script);
      if (exit?.[1] !== undefined) return Number(exit[1]) & 0xff;
      // No shell grammar: one simple command, split on blanks.
      return runCommand(script.split(/\s+/), io);
    }
    default:
      io.stderr(`sh: ${cmd}: not found\n`);
      return NOT_FOUND_EXIT;
  }
}

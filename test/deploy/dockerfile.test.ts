import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

// hadolint is not available offline; these checks cover what matters for this image.
const DEPLOY = join(import.meta.dirname, '..', '..', 'deploy');

interface Instruction { keyword: string, args: string }
interface Stage { name: string, from: string, instructions: Instruction[] }

/** Parses a Dockerfile into stages: comments dropped, `\` continuations joined, keywords upper-cased. */
export function parseDockerfile (text: string): { args: Instruction[], stages: Stage[] } {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    if (line.endsWith('\\')) { current += `${line.slice(0, -1)} `; continue; }
    logical.push(current + line);
    current = '';
  }
  const args: Instruction[] = [];
  const stages: Stage[] = [];
  for (const line of logical) {
    const [, keyword = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: rest.replace(/\s+/g, ' ').trim() };
    if (instruction.keyword === 'FROM') {
      const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(instruction.args);
      stages.push({ from: match?.[1] ?? '', name: match?.[2] ?? String(stages.length), instructions: [] });
    } else if (stages.length === 0) {
      args.push(instruction);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return { args, stages };
}

describe('deploy/Dockerfile', () => {
  const { args, stages } = parseDockerfile(readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8'));
  const runtime = stages.at(-1)!;
  const of = (stage: Stage, keyword: string): Instruction[] => stage.instructions.filter((i) => i.keyword === keyword);

  it('is multi-stage on a small Node 20 base', () => {
    assert.ok(stages.length >= 2);
    const image = args.find((a) => a.keyword === 'ARG' && a.args.startsWith('NODE_IMAGE='))?.args.split('=')[1];
    for (const stage of stages) {
      const from = stage.from === '${NODE_IMAGE}' ? image : stage.from;
      assert.match(from ?? '', /^node:20(\.\d+)*-(bookworm-slim|slim|alpine)/, `${stage.name} FROM ${stage.from}`);
    }
  });

  it('builds with npm ci and npm run build in a stage other than the runtime', () => {
    const build = stages.find((s) => of(s, 'RUN').some((r) => /\bnpm run build\b/.test(r.args)));
    assert.ok(build && build !== runtime, 'a build stage runs npm run build');
    assert.ok(of(build, 'RUN').some((r) => /\bnpm ci\b/.test(r.args) && !r.args.includes('--omit=dev')), 'build installs dev dependencies with npm ci');
  });

  it('installs only production dependencies in the runtime stage', () => {
    const installs = of(runtime, 'RUN').filter((r) => /\bnpm (ci|install|i)\b/.test(r.args));
    assert.equal(installs.length, 1);
    assert.match(installs[0]!.args, /\bnpm ci\b[^&]*--omit=dev/);
    assert.ok(!of(runtime, 'RUN').some((r) => /\bnpm run build\b|\btsc\b|\btsx\b/.test(r.args)), 'no build tools run at runtime');
  });

  it('copies no dev tooling, sources or node_modules into the runtime image', () => {
    const copies = of(runtime, 'COPY').map((c) => c.args.split(' '));
    for (const words of copies) {
      const fromStage = words.find((w) => w.startsWith('--from='));
      const paths = words.filter((w) => !w.startsWith('--'));
      const sources = paths.slice(0, -1);
      if (fromStage !== undefined) {
        // From the build stage only the compiled output: its node_modules hold TypeScript and the test tools.
        assert.ok(sources.every((p) => /(^|\/)dist\/?$/.test(p)), `only dist from ${fromStage}: ${words.join(' ')}`);
      } else {
        assert.ok(sources.every((p) => p === 'package.json' || p === 'package-lock.json'), `only the manifest from the context: ${words.join(' ')}`);
      }
    }
    assert.ok(copies.some((w) => w.some((p) => /\/dist$/.test(p)) && w.some((p) => p.startsWith('--from='))), 'compiled output is copied');
  });

  it('runs as a numeric non-root user', () => {
    const users = of(runtime, 'USER');
    assert.equal(users.length, 1);
    const [user, group] = users[0]!.args.split(':');
    assert.match(user!, /^\d+$/, 'numeric, so runAsNonRoot can check it');
    assert.notEqual(Number(user), 0);
    if (group !== undefined) assert.notEqual(Number(group), 0);
    const last = runtime.instructions.findLastIndex((i) => i.keyword === 'RUN' || i.keyword === 'COPY');
    assert.ok(runtime.instructions.indexOf(users[0]!) > last, 'USER comes after every RUN/COPY');
  });

  it('starts node dist/cli.js in exec form', () => {
    const entrypoints = of(runtime, 'ENTRYPOINT');
    assert.equal(entrypoints.length, 1);
    assert.deepEqual(JSON.parse(entrypoints[0]!.args), ['node', 'dist/cli.js']);
    assert.equal(of(runtime, 'CMD').length, 0, 'arguments come from the Deployment');
  });

  it('keeps keys and local files out of the build context', () => {
    const ignore = readFileSync(join(DEPLOY, 'Dockerfile.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
    assert.equal(ignore[0], '*', 'allow-list: everything is excluded first');
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1));
    assert.deepEqual(allowed.sort(), ['package-lock.json', 'package.json', 'src', 'tsconfig.build.json', 'tsconfig.json']);
  });
});

describe('parseDockerfile', () => {
  it('joins continuations, drops comments and splits stages', () => {
    const parsed = parseDockerfile('ARG X=1\n# c\nFROM a AS one\nRUN echo \\\n  # inner comment\n  two\nfrom b\nuser 1\n');
    assert.deepEqual(parsed.args, [{ keyword: 'ARG', args: 'X=1' }]);
    assert.deepEqual(parsed.stages.map((s) => [s.name, s.from, s.instructions]), [
      ['one', 'a', [{ keyword: 'RUN', args: 'echo two' }]],
      ['1', 'b', [{ keyword: 'USER', args: '1' }]],
    ]);
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { EXIT_INVALID_INPUT, EXIT_OK, EXIT_USAGE, parseRenderArgs, runClassroomCommand } from '../../../src/classroom/cli.js';

interface Run { code: number, stdout: string, stderr: string }

async function run (argv: string[], files: Record<string, string> = {}): Promise<Run> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const readFile = async (path: string): Promise<string> => {
    const text = files[path];
    if (text === undefined) throw Object.assign(new Error('missing'), { code: 'ENOENT' });
    return text;
  };
  const code = await runClassroomCommand(argv, { stdout, stderr, readFile });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

const CSV = 'email,group\na.b@x.org\nA_B@y.org\nuser01@example.com\nteacher@example.com,instructors\n';

describe('kubegate classroom render', () => {
  it('prints manifests on stdout and reports collisions with their rows on stderr', async () => {
    const result = await run(['render', '--roster', 'class.csv'], { 'class.csv': CSV });
    assert.equal(result.code, EXIT_OK);
    const kinds = parseAllDocuments(result.stdout).map((d) => (d.toJS() as { kind: string }).kind);
    assert.equal(kinds.filter((k) => k === 'Namespace').length, 3);
    assert.match(result.stderr, /namespace "a-b" would be shared/);
    assert.match(result.stderr, /class\.csv:2: a\.b@x\.org -> a-b-[0-9a-f]{6}/);
    assert.match(result.stderr, /class\.csv:3: A_B@y\.org -> a-b-[0-9a-f]{6}/);
    assert.match(result.stderr, /^kubegate classroom: 3 students, 1 instructor, 17 objects$/m);
  });

  it('is idempotent: two runs give the same bytes', async () => {
    const a = await run(['render', '--roster', 'c.csv', '--cluster-view'], { 'c.csv': CSV });
    const b = await run(['render', '--roster', 'c.csv', '--cluster-view'], { 'c.csv': CSV });
    assert.equal(a.stdout, b.stdout);
    assert.ok(a.stdout.length > 1000);
  });

  it('lists every roster problem with file and line and renders nothing', async () => {
    const result = await run(['render', '--roster', 'bad.csv'], { 'bad.csv': 'email,namespace\nok@x.org\nnope\nok@x.org\nz@x.org,Bad_NS\n' });
    assert.equal(result.code, EXIT_INVALID_INPUT);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /bad\.csv:3: email: "nope" is not an email address/);
    assert.match(result.stderr, /bad\.csv:4: email: ok@x\.org is already on row 2/);
    // Pinned-namespace problems are found after parsing; they are reported the same way.
    const pinned = await run(['render', '--roster', 'p.csv'], { 'p.csv': 'email,namespace\nz@x.org,Bad_NS\n' });
    assert.equal(pinned.code, EXIT_INVALID_INPUT);
    assert.match(pinned.stderr, /p\.csv:2: namespace "Bad_NS" is not a valid DNS-1123 label/);
  });

  it('reads YAML rosters and templates, and honours prefixes', async () => {
    const result = await run(
      ['render', '--roster', 'r.yaml', '--template', 't.yaml', '--username-prefix', 'oidc:', '--groups-prefix', 'oidc:', '--student-role', 'custom'],
      { 'r.yaml': 'students:\n  - user01@example.com\n', 't.yaml': 'limitRange: null\n' },
    );
    assert.equal(result.code, EXIT_OK, result.stderr);
    const objects = parseAllDocuments(result.stdout).map((d) => d.toJS() as { kind: string, subjects?: Array<{ name: string }> });
    assert.ok(!objects.some((o) => o.kind === 'LimitRange'));
    assert.ok(objects.some((o) => o.kind === 'Role'));
    assert.equal(objects.find((o) => o.kind === 'RoleBinding')!.subjects![0]!.name, 'oidc:user01@example.com');
    assert.equal(objects.find((o) => o.kind === 'ClusterRoleBinding')!.subjects![0]!.name, 'oidc:instructors');
  });

  it('reports template problems and exits 1', async () => {
    const result = await run(['render', '--roster', 'r.yaml', '--template', 't.yaml'], { 'r.yaml': '- a@x.org\n', 't.yaml': 'quota: {}\n' });
    assert.equal(result.code, EXIT_INVALID_INPUT);
    assert.match(result.stderr, /t\.yaml: quota: unknown key/);
  });

  it('prints prune commands for the chosen student', async () => {
    const result = await run(['render', '--roster', 'c.csv', '--prune-labels', '--student', 'user01@example.com'], { 'c.csv': CSV });
    assert.equal(result.code, EXIT_OK);
    assert.match(result.stdout, /^kubectl delete namespaces,clusterrolebindings -l '.*kubegate\.io\/classroom-student=user01'$/m);
    assert.equal(result.stdout.match(/^kubectl delete/gm)?.length, 1);
    const unknown = await run(['render', '--roster', 'c.csv', '--prune-labels', '--student', 'nobody@x.org'], { 'c.csv': CSV });
    assert.equal(unknown.code, EXIT_INVALID_INPUT);
    assert.match(unknown.stderr, /not a student on the roster: nobody@x\.org/);
  });

  it('answers usage errors with exit 2 and the usage text', async () => {
    for (const argv of [[], ['render'], ['render', '--roster'], ['frobnicate'], ['render', '--roster', 'x', '--bogus'], ['render', '--roster', 'x', '--student-role', 'root'], ['render', '--roster', 'x', '--format', 'xml'], ['render', '--roster', 'x', '--student', 'a@x']]) {
      const result = await run(argv);
      assert.equal(result.code, EXIT_USAGE, argv.join(' '));
      assert.match(result.stderr, /Usage: kubegate classroom render/);
    }
    const help = await run(['render', '--help']);
    assert.equal(help.code, EXIT_OK);
    assert.match(help.stdout, /--prune-labels/);
  });

  it('reports an unreadable roster', async () => {
    const result = await run(['render', '--roster', 'missing.csv']);
    assert.equal(result.code, EXIT_INVALID_INPUT);
    assert.equal(result.stderr, 'missing.csv: cannot read (ENOENT)\n');
  });

  it('reads from the file system by default', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kubegate-classroom-'));
    try {
      await writeFile(join(dir, 'r.csv'), 'user01@example.com\n');
      const stdout = new PassThrough();
      const chunks: Buffer[] = [];
      stdout.on('data', (c: Buffer) => chunks.push(c));
      const code = await runClassroomCommand(['render', '--roster', join(dir, 'r.csv')], { stdout, stderr: new PassThrough() });
      assert.equal(code, EXIT_OK);
      assert.match(Buffer.concat(chunks).toString(), /name: user01\n/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('parseRenderArgs', () => {
  it('fills in the defaults: admin role, instructors group, no prefixes, a NetworkPolicy, manifests', () => {
    assert.deepEqual(parseRenderArgs(['--roster', 'r.csv']), {
      kind: 'render',
      request: {
        rosterPath: 'r.csv',
        format: undefined,
        templatePath: undefined,
        options: {
          className: 'classroom', studentRole: 'admin', clusterView: false, instructorGroup: 'instructors',
          usernamePrefix: '', groupsPrefix: '', namespacePrefix: '', networkPolicy: true,
        },
        prune: undefined,
      },
    });
  });

  it('maps every flag to its render option', () => {
    const parsed = parseRenderArgs([
      '--roster', 'r.txt', '--format', 'csv', '--template', 't.yaml', '--student-role', 'custom', '--cluster-view',
      '--instructor-group', '', '--username-prefix', 'oidc:', '--groups-prefix', '-', '--namespace-prefix', 'cs-',
      '--class', 'cs101', '--no-network-policy', '--prune-labels', '--student', 'a@x.org', '--student', 'b@x.org',
    ]);
    assert.equal(parsed.kind, 'render');
    if (parsed.kind !== 'render') return;
    assert.equal(parsed.request.format, 'csv');
    assert.equal(parsed.request.templatePath, 't.yaml');
    assert.deepEqual(parsed.request.options, {
      className: 'cs101', studentRole: 'custom', clusterView: true, instructorGroup: '',
      usernamePrefix: 'oidc:', groupsPrefix: '-', namespacePrefix: 'cs-', networkPolicy: false,
    });
    assert.deepEqual(parsed.request.prune, { students: ['a@x.org', 'b@x.org'] });
    const pruneAll = parseRenderArgs(['--roster', 'r', '--prune-labels']);
    assert.deepEqual(pruneAll.kind === 'render' ? pruneAll.request.prune : undefined, { students: undefined });
  });

  it('says what is wrong, first problem first, and answers help before checking anything else', () => {
    assert.deepEqual(parseRenderArgs(['--help', '--student-role', 'root']), { kind: 'help' });
    assert.deepEqual(parseRenderArgs(['-h']), { kind: 'help' });
    const message = (args: string[]): string => {
      const parsed = parseRenderArgs(args);
      assert.equal(parsed.kind, 'usage', args.join(' '));
      return (parsed as { message: string }).message;
    };
    assert.equal(message([]), '--roster is required');
    assert.equal(message(['--roster', 'r', '--format', 'xml', '--student-role', 'root']), '--format must be yaml or csv');
    assert.equal(message(['--roster', 'r', '--student-role', 'root']), '--student-role must be one of admin, edit, custom');
    assert.equal(message(['--roster', 'r', '--student', 'a@x.org']), '--student is only used with --prune-labels');
    assert.match(message(['--roster', 'r', '--bogus']), /--bogus/);
    assert.match(message(['--roster', 'r', 'positional']), /positional/);
  });
});

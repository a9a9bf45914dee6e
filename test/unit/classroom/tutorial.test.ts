import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { runClassroomCommand } from '../../../src/classroom/cli.js';

// docs/tutorial.md shows a roster and what `classroom render` says about it; keep the two in step.
const TUTORIAL = readFileSync(join(import.meta.dirname, '..', '..', '..', 'docs', 'tutorial.md'), 'utf8');

async function render (argv: string[], roster: string): Promise<{ stdout: string, stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => { out += c.toString(); });
  stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const code = await runClassroomCommand(argv, { stdout, stderr, readFile: async () => roster });
  assert.equal(code, 0, err);
  return { stdout: out, stderr: err };
}

describe('docs/tutorial.md', () => {
  const roster = /```csv\n([\s\S]*?)```/.exec(TUTORIAL)?.[1];

  it('shows the collision report and prune command that the roster really produces', async () => {
    assert.ok(roster !== undefined, 'the tutorial has a CSV roster');
    const shown = /```\n(kubegate classroom: namespace[\s\S]*?)```/.exec(TUTORIAL)?.[1];
    const { stderr } = await render(['render', '--roster', 'class.csv', '--class', 'cs101', '--groups-prefix', 'oidc:'], roster);
    assert.equal(stderr, shown);
    const { stdout } = await render(['render', '--roster', 'class.csv', '--class', 'cs101', '--prune-labels', '--student', 'anna.schmidt@example.edu'], roster);
    const command = stdout.split('\n').find((l) => l.startsWith('kubectl delete'))!;
    assert.ok(TUTORIAL.includes(`# ${command}`), command);
  });
});

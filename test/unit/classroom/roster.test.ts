import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCsv } from '../../../src/classroom/csv.js';
import { detectRosterFormat, parseRoster } from '../../../src/classroom/roster.js';

describe('parseCsv', () => {
  it('reads quoted fields with commas, doubled quotes and line breaks, and keeps start lines', () => {
    const { records, problems } = parseCsv('\uFEFFa,"b,c","say ""hi"""\r\n"multi\nline",x\n\n# comment\nlast,\n');
    assert.deepEqual(problems, []);
    assert.deepEqual(records, [
      { line: 1, fields: ['a', 'b,c', 'say "hi"'] },
      { line: 2, fields: ['multi\nline', 'x'] },
      { line: 6, fields: ['last', ''] },
    ]);
  });

  it('accepts a last line without a line break', () => {
    assert.deepEqual(parseCsv('a,b').records, [{ line: 1, fields: ['a', 'b'] }]);
  });

  it('reports malformed quoting with the line instead of guessing', () => {
    const { records, problems } = parseCsv('ok@x\nbad"quote@x\n"closed"junk,x\ngood@x\n"never closed\n');
    assert.deepEqual(records.map((r) => r.fields[0]), ['ok@x', 'good@x']);
    assert.deepEqual(problems.map((p) => p.line), [2, 3, 5]);
    assert.match(problems[0]!.message, /quote inside an unquoted field/);
    assert.match(problems[1]!.message, /after a closing quote/);
    assert.match(problems[2]!.message, /unterminated/);
  });
});

describe('parseRoster (CSV)', () => {
  it('reads a header in any column order and treats empty cells as unset', () => {
    const roster = parseRoster('group,email,namespace\ncs101,alice@x.org,\n,Bob@X.org,bob-lab\n', 'csv');
    assert.deepEqual(roster.problems, []);
    assert.deepEqual(roster.entries, [
      { email: 'alice@x.org', namespace: undefined, group: 'cs101', row: 2 },
      { email: 'Bob@X.org', namespace: 'bob-lab', group: undefined, row: 3 },
    ]);
  });

  it('reads positional columns without a header', () => {
    const roster = parseRoster('alice@x.org\nbob@x.org,bob\ncarol@x.org,,instructors\n', 'csv');
    assert.deepEqual(roster.entries.map((e) => [e.email, e.namespace, e.group, e.row]), [
      ['alice@x.org', undefined, undefined, 1],
      ['bob@x.org', 'bob', undefined, 2],
      ['carol@x.org', undefined, 'instructors', 3],
    ]);
  });

  it('reports every bad row with its line, and keeps none of them', () => {
    const text = [
      'email,namespace,group', // 1
      'alice@x.org', // 2
      'not-an-email', // 3
      ',ns', // 4
      'ALICE@x.org', // 5 duplicate (emails compare case-insensitively)
      'a b@x.org', // 6 whitespace
      'c@x.org,ns,g,extra', // 7 too many fields
      'd@x.org,,"!!!"', // 8 group with no letters
      'e@x.org', // 9
    ].join('\n');
    const roster = parseRoster(text, 'csv');
    assert.deepEqual(roster.entries.map((e) => e.email), ['alice@x.org', 'e@x.org']);
    assert.deepEqual(roster.problems.map((p) => p.row), [3, 4, 5, 6, 7, 8]);
    assert.match(roster.problems[0]!.message, /"not-an-email" is not an email address/);
    assert.match(roster.problems[1]!.message, /email: required/);
    assert.match(roster.problems[2]!.message, /already on row 2/);
    assert.match(roster.problems[4]!.message, /4 fields, expected at most 3/);
    assert.match(roster.problems[5]!.message, /group/);
  });

  it('refuses unknown or repeated header columns', () => {
    const roster = parseRoster('email,namepsace,email\nalice@x.org,a,b\n', 'csv');
    assert.deepEqual(roster.problems.map((p) => [p.row, p.message]), [
      [1, 'unknown column "namepsace" (expected email, namespace, group)'],
      [1, 'column "email" appears twice'],
    ]);
  });

  it('refuses control characters in an email (they would be refused as a username anyway)', () => {
    const roster = parseRoster('"a@x\r\nImpersonate-Group: system:masters"\n', 'csv');
    assert.equal(roster.entries.length, 0);
    assert.match(roster.problems[0]!.message, /is not an email address/);
    assert.ok(!roster.problems[0]!.message.includes('\n'), 'the message must stay on one line');
  });

  it('says so when the roster is empty', () => {
    assert.deepEqual(parseRoster('# nobody yet\n', 'csv').problems, [{ row: 0, message: 'the roster has no students' }]);
  });
});

describe('parseRoster (YAML)', () => {
  it('reads a list of emails and maps, with the line of each item', () => {
    const text = 'students:\n  - alice@x.org\n  - email: bob@x.org\n    namespace: bob\n  - { email: carol@x.org, group: instructors }\n';
    const roster = parseRoster(text, 'yaml');
    assert.deepEqual(roster.problems, []);
    assert.deepEqual(roster.entries, [
      { email: 'alice@x.org', namespace: undefined, group: undefined, row: 2 },
      { email: 'bob@x.org', namespace: 'bob', group: undefined, row: 3 },
      { email: 'carol@x.org', namespace: undefined, group: 'instructors', row: 5 },
    ]);
  });

  it('accepts a top-level list', () => {
    assert.deepEqual(parseRoster('- a@x.org\n- b@x.org\n', 'yaml').entries.map((e) => e.row), [1, 2]);
  });

  it('reports bad items and unknown keys with their lines', () => {
    const text = [
      'students:', // 1
      '  - email: ok@x.org', // 2
      '  - email: 42', // 3
      '  - emial: typo@x.org', // 4
      '  - [a, b]', // 5
      '  - email: ns@x.org', // 6
      '    namespace: { a: 1 }', // 7
      'teachers: []', // 8
    ].join('\n');
    const roster = parseRoster(text, 'yaml');
    assert.deepEqual(roster.entries.map((e) => e.email), ['ok@x.org']);
    assert.deepEqual(roster.problems.map((p) => p.row), [3, 4, 4, 5, 6, 8]);
    assert.match(roster.problems[0]!.message, /email: must be a string/);
    assert.match(roster.problems[1]!.message, /unknown key "emial"/);
    assert.match(roster.problems[2]!.message, /email: required/);
    assert.match(roster.problems[4]!.message, /namespace: must be a string/);
    assert.match(roster.problems[5]!.message, /unknown key "teachers"/);
  });

  it('reports a YAML syntax error with its line', () => {
    const roster = parseRoster('students:\n  - a@x.org\n  - "unclosed\n', 'yaml');
    assert.equal(roster.entries.length, 0);
    assert.ok(roster.problems.length > 0);
    assert.ok(roster.problems[0]!.row >= 3, `line ${roster.problems[0]!.row}`);
  });

  it('picks the format from the file name', () => {
    assert.equal(detectRosterFormat('class.CSV'), 'csv');
    assert.equal(detectRosterFormat('class.yaml'), 'yaml');
    assert.equal(detectRosterFormat('class.json'), 'yaml');
  });
});

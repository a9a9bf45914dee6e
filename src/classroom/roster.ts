// Reads a class roster (YAML or CSV) into students and instructors, every problem reported with its line.
import { LineCounter, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Node as YamlNode } from 'yaml';
import { parseCsv } from './csv.js';
import { toLabelValue } from './names.js';

/** One person on the roster. */
export interface RosterEntry {
  /** Exactly as written (trimmed): kubegate impersonates the email claim byte for byte, so case matters. */
  readonly email: string;
  readonly namespace?: string | undefined;
  readonly group?: string | undefined;
  /** 1-based line in the roster file where this entry starts. */
  readonly row: number;
}

/** A problem with the roster, tied to the line it was found on (0 when it concerns the whole file). */
export interface RosterProblem {
  readonly row: number;
  readonly message: string;
}

export interface Roster {
  readonly entries: readonly RosterEntry[];
  readonly problems: readonly RosterProblem[];
}

export type RosterFormat = 'yaml' | 'csv';

const COLUMNS = ['email', 'namespace', 'group'] as const;
// Not RFC 5322 (quoted local parts are legal and never seen in a class); what matters is that the value is one
// plausible address with no whitespace or control characters, which kubegate would refuse as a username anyway.
const EMAIL = /^[^\s@]+@[^\s@]+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** Picks the roster format from a file name; anything that is not `.csv` is read as YAML (JSON is YAML). */
export function detectRosterFormat (path: string): RosterFormat {
  return path.toLowerCase().endsWith('.csv') ? 'csv' : 'yaml';
}

/**
 * Parses a roster and checks every row, collecting all problems (with their lines) instead of stopping at the
 * first, so a teacher fixes a spreadsheet in one pass.
 *
 * CSV: an optional header naming the columns `email`, `namespace`, `group` in any order; without a header the
 * columns are positional. YAML: a list, or a map with a `students` list; each item is an email string or a map
 * with `email` and optional `namespace` and `group`.
 */
export function parseRoster (text: string, format: RosterFormat): Roster {
  const raw = format === 'csv' ? readCsv(text) : readYaml(text);
  return check(raw);
}

interface RawEntry {
  row: number;
  email?: unknown;
  namespace?: unknown;
  group?: unknown;
}

function readCsv (text: string): { rows: RawEntry[], problems: RosterProblem[] } {
  const { records, problems: csvProblems } = parseCsv(text);
  const problems: RosterProblem[] = csvProblems.map((p) => ({ row: p.line, message: p.message }));
  const rows: RawEntry[] = [];
  let columns: readonly string[] = COLUMNS;
  let body = records;
  const first = records[0];
  if (first !== undefined && first.fields.some((f) => f.trim().toLowerCase() === 'email')) {
    columns = first.fields.map((f) => f.trim().toLowerCase());
    body = records.slice(1);
    columns.forEach((name, index) => {
      if (!(COLUMNS as readonly string[]).includes(name)) {
        problems.push({ row: first.line, message: `unknown column "${first.fields[index]}" (expected ${COLUMNS.join(', ')})` });
      } else if (columns.indexOf(name) !== index) {
        problems.push({ row: first.line, message: `column "${name}" appears twice` });
      }
    });
    // With a wrong header every row would be misread: report the header alone.
    if (problems.length > csvProblems.length) return { rows, problems };
  }
  for (const record of body) {
    if (record.fields.length > columns.length) {
      problems.push({ row: record.line, message: `${record.fields.length} fields, expected at most ${columns.length} (${columns.join(', ')})` });
      continue;
    }
    const entry: RawEntry = { row: record.line };
    record.fields.forEach((value, index) => {
      const name = columns[index];
      // Empty optional cells mean "not set", as a spreadsheet user would expect.
      if ((name === 'email' || name === 'namespace' || name === 'group') && value.trim() !== '') entry[name] = value;
    });
    rows.push(entry);
  }
  return { rows, problems };
}

function readYaml (text: string): { rows: RawEntry[], problems: RosterProblem[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineOf = (node: { range?: readonly number[] | null | undefined } | null | undefined): number =>
    node?.range != null ? lineCounter.linePos(node.range[0]!).line : 0;
  const problems: RosterProblem[] = doc.errors.map((e) => ({ row: lineCounter.linePos(e.pos[0]).line, message: e.message.split('\n')[0]! }));
  const rows: RawEntry[] = [];
  if (problems.length > 0) return { rows, problems };

  let list: YamlNode | null = doc.contents;
  if (isMap(list)) {
    const map = list;
    list = null;
    for (const pair of map.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : '';
      if (key === 'students') list = pair.value as YamlNode | null;
      else problems.push({ row: lineOf(pair.key as YamlNode), message: `unknown key "${key}" (expected "students")` });
    }
  }
  if (list === null || list === undefined) {
    problems.push({ row: 0, message: 'the roster is empty' });
    return { rows, problems };
  }
  if (!isSeq(list)) {
    problems.push({ row: lineOf(list), message: 'expected a list of students' });
    return { rows, problems };
  }
  for (const item of list.items) {
    const row = lineOf(item as YamlNode);
    if (isScalar(item)) {
      rows.push({ row, email: item.value });
    } else if (isMap(item)) {
      const entry: RawEntry = { row };
      for (const pair of item.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : '';
        const value = isScalar(pair.value) ? pair.value.value : pair.value === null ? undefined : pair.value;
        if (key === 'email' || key === 'namespace' || key === 'group') {
          if (value !== undefined && value !== null) entry[key] = value;
        } else {
          problems.push({ row: lineOf(pair.key as YamlNode), message: `unknown key "${key}" (expected ${COLUMNS.join(', ')})` });
        }
      }
      rows.push(entry);
    } else {
      problems.push({ row, message: 'expected an email or a map with email, namespace, group' });
    }
  }
  return { rows, problems };
}

function check ({ rows, problems }: { rows: RawEntry[], problems: RosterProblem[] }): Roster {
  const entries: RosterEntry[] = [];
  const seen = new Map<string, number>();
  for (const raw of rows) {
    const rowProblems: string[] = [];
    const email = typeof raw.email === 'string' ? raw.email.trim() : undefined;
    if (raw.email === undefined) rowProblems.push('email: required');
    else if (email === undefined) rowProblems.push('email: must be a string');
    else if (CONTROL.test(email) || !EMAIL.test(email)) rowProblems.push(`email: "${printable(email)}" is not an email address`);
    const namespace = optionalString(raw.namespace, 'namespace', rowProblems);
    const group = optionalString(raw.group, 'group', rowProblems);
    if (group !== undefined && toLabelValue(group) === '') rowProblems.push(`group: "${printable(group)}" has no letters or digits`);
    if (email !== undefined && rowProblems.length === 0) {
      const key = email.toLowerCase();
      const before = seen.get(key);
      if (before !== undefined) rowProblems.push(`email: ${email} is already on row ${before}`);
      else seen.set(key, raw.row);
    }
    if (rowProblems.length > 0) {
      for (const message of rowProblems) problems.push({ row: raw.row, message });
      continue;
    }
    entries.push({ email: email!, namespace, group, row: raw.row });
  }
  if (rows.length === 0 && problems.length === 0) problems.push({ row: 0, message: 'the roster has no students' });
  return { entries, problems: problems.sort((a, b) => a.row - b.row) };
}

function optionalString (value: unknown, name: string, problems: string[]): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    problems.push(`${name}: must be a string`);
    return undefined;
  }
  const trimmed = value.trim();
  return trimmed === '' ? undefined : trimmed;
}

function printable (value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

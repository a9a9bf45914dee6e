// `kubegate classroom`: the command line of the classroom renderer (arguments, reading roster and template, output).
import { readFile as readFileFromDisk } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { ParseArgsConfig } from 'node:util';
import type { NamespaceCollision } from './names.js';
import { pruneCommands, renderClassroom, toYaml } from './render.js';
import type { ClassroomPlan, RenderOptions, StudentRole } from './render.js';
import { detectRosterFormat, parseRoster } from './roster.js';
import type { RosterEntry, RosterFormat, RosterProblem } from './roster.js';
import { DEFAULT_TEMPLATE, parseTemplate } from './template.js';
import type { ClassroomTemplate } from './template.js';

/** Streams and file access for {@link runClassroomCommand}; injectable so tests need no files or process. */
export interface ClassroomIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  /** Reads a UTF-8 file; defaults to the file system. */
  readonly readFile?: (path: string) => Promise<string>;
}

/** Exit codes: 0 done, 1 the roster or template has problems (all listed), 2 the command line is wrong. */
export const EXIT_OK = 0;
export const EXIT_INVALID_INPUT = 1;
export const EXIT_USAGE = 2;

export const CLASSROOM_USAGE = `Usage: kubegate classroom render --roster FILE [options]

Prints the manifests of a class for \`kubectl apply -f -\`: per student a Namespace, a RoleBinding, a
ResourceQuota, a LimitRange and a NetworkPolicy; instructors get read-only access to the whole cluster.

Options:
  --roster FILE            YAML (list of emails or {email, namespace, group}) or CSV (email,namespace,group)
  --format yaml|csv        roster format (default: from the file extension, .csv or YAML)
  --template FILE          YAML with resourceQuota, limitRange (object specs, or null) and roleRules
  --student-role ROLE      admin (default) or edit: bind that ClusterRole in the student's namespace;
                           custom: a Role with the template's roleRules (default: pods and services only)
  --cluster-view           also bind each student to ClusterRole view cluster-wide
  --instructor-group NAME  roster group of instructors, also bound as an OIDC group (default instructors; "" for none)
  --username-prefix P      kubegate's oidc.usernamePrefix ("-" or unset: none)
  --groups-prefix P        kubegate's oidc.groupsPrefix ("-" or unset: none)
  --namespace-prefix P     prefix for namespace names derived from emails (e.g. "cs101-")
  --class NAME             class name for labels and instructor objects (default classroom)
  --no-network-policy      leave out the NetworkPolicy that isolates student namespaces
  --prune-labels           print label selectors and kubectl delete commands instead of manifests
  --student EMAIL          with --prune-labels: only this student (repeatable)
`;

const STUDENT_ROLES: readonly StudentRole[] = ['admin', 'edit', 'custom'];

/** The flags of `classroom render`, as CLASSROOM_USAGE lists them. */
const RENDER_FLAGS = {
  roster: { type: 'string' },
  format: { type: 'string' },
  template: { type: 'string' },
  'student-role': { type: 'string', default: 'admin' },
  'cluster-view': { type: 'boolean', default: false },
  'instructor-group': { type: 'string', default: 'instructors' },
  'username-prefix': { type: 'string', default: '' },
  'groups-prefix': { type: 'string', default: '' },
  'namespace-prefix': { type: 'string', default: '' },
  class: { type: 'string', default: 'classroom' },
  'no-network-policy': { type: 'boolean', default: false },
  'prune-labels': { type: 'boolean', default: false },
  student: { type: 'string', multiple: true },
  help: { type: 'boolean', short: 'h', default: false },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

type ReadText = (path: string) => Promise<string>;

/** What `classroom render`'s command line asks for, checked. */
export interface RenderRequest {
  readonly rosterPath: string;
  /** Undefined: from the roster file's extension. */
  readonly format: RosterFormat | undefined;
  readonly templatePath: string | undefined;
  /** Everything {@link renderClassroom} takes except the template, which is read from `templatePath`. */
  readonly options: Omit<RenderOptions, 'template'>;
  /** Print prune commands instead of manifests, for these students (undefined: all). */
  readonly prune: { readonly students: readonly string[] | undefined } | undefined;
}

/** The outcome of {@link parseRenderArgs}: a request, a request for help, or a usage error to report. */
export type ParsedRenderArgs =
  | { readonly kind: 'render', readonly request: RenderRequest }
  | { readonly kind: 'help' }
  | { readonly kind: 'usage', readonly message: string };

/**
 * `kubegate classroom ...`: `argv` is what follows `classroom`. Never exits the process and never throws for
 * bad input: problems go to `io.stderr` and the exit code says what happened.
 */
export async function runClassroomCommand (argv: string[], io: ClassroomIo): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.stderr : io.stdout).write(CLASSROOM_USAGE);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command !== 'render') return usage(io, `unknown command "${command}"`);
  const parsed = parseRenderArgs(rest);
  if (parsed.kind === 'help') {
    io.stdout.write(CLASSROOM_USAGE);
    return EXIT_OK;
  }
  if (parsed.kind === 'usage') return usage(io, parsed.message);
  return render(parsed.request, io);
}

/** `classroom render` once its command line is checked: read, render, report, write. */
async function render (request: RenderRequest, io: ClassroomIo): Promise<number> {
  const readFile = io.readFile ?? ((path: string) => readFileFromDisk(path, 'utf8'));
  const where = rosterLocation(request.rosterPath);
  const template = await loadTemplate(request.templatePath, readFile, io);
  if (template === undefined) return EXIT_INVALID_INPUT;
  const entries = await loadRoster(request, readFile, io);
  if (entries === undefined || !template.ok) return EXIT_INVALID_INPUT;

  const plan = renderClassroom(entries, { ...request.options, template: template.template });
  reportProblems(plan.problems, where, io);
  if (plan.problems.length > 0) return EXIT_INVALID_INPUT;
  reportCollisions(plan.collisions, where, io);
  return request.prune === undefined ? writeManifests(plan, io) : writePruneCommands(plan, request.prune.students, io);
}

/** Checks the command line of `classroom render` (what follows `render`); reads nothing. */
export function parseRenderArgs (args: readonly string[]): ParsedRenderArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: RENDER_FLAGS,
    }));
  } catch (error) {
    return { kind: 'usage', message: (error as Error).message };
  }
  const problem = (message: string): ParsedRenderArgs => ({ kind: 'usage', message });
  if (values.help) return { kind: 'help' };
  if (values.roster === undefined) return problem('--roster is required');
  if (values.format !== undefined && values.format !== 'yaml' && values.format !== 'csv') return problem('--format must be yaml or csv');
  const studentRole = values['student-role'] as StudentRole;
  if (!STUDENT_ROLES.includes(studentRole)) return problem(`--student-role must be one of ${STUDENT_ROLES.join(', ')}`);
  if (values.student !== undefined && !values['prune-labels']) return problem('--student is only used with --prune-labels');
  return {
    kind: 'render',
    request: {
      rosterPath: values.roster,
      format: values.format as RosterFormat | undefined,
      templatePath: values.template,
      options: {
        className: values.class,
        studentRole,
        clusterView: values['cluster-view'],
        instructorGroup: values['instructor-group'],
        usernamePrefix: values['username-prefix'],
        groupsPrefix: values['groups-prefix'],
        namespacePrefix: values['namespace-prefix'],
        networkPolicy: !values['no-network-policy'],
      },
      prune: values['prune-labels'] ? { students: values.student } : undefined,
    },
  };
}

/**
 * The template at `path` (the default template without one). Undefined when unreadable; `ok: false` when it
 * has problems, which are reported here, so that the roster's problems can be listed too before giving up.
 */
async function loadTemplate (path: string | undefined, readFile: ReadText, io: ClassroomIo): Promise<{ template: ClassroomTemplate, ok: boolean } | undefined> {
  if (path === undefined) return { template: DEFAULT_TEMPLATE, ok: true };
  const text = await read(readFile, path, io);
  if (text === undefined) return undefined;
  const parsed = parseTemplate(text);
  for (const problem of parsed.problems) io.stderr.write(`${path}: ${problem}\n`);
  return { template: parsed.template, ok: parsed.problems.length === 0 };
}

/** The roster's entries, or undefined when it is unreadable or has problems (each reported with its row). */
async function loadRoster (request: RenderRequest, readFile: ReadText, io: ClassroomIo): Promise<readonly RosterEntry[] | undefined> {
  const text = await read(readFile, request.rosterPath, io);
  if (text === undefined) return undefined;
  const roster = parseRoster(text, request.format ?? detectRosterFormat(request.rosterPath));
  reportProblems(roster.problems, rosterLocation(request.rosterPath), io);
  return roster.problems.length > 0 ? undefined : roster.entries;
}

/** `FILE:ROW` for a roster row, `FILE` for problems of the whole file (row 0). */
function rosterLocation (rosterPath: string): (row: number) => string {
  return (row) => (row > 0 ? `${rosterPath}:${row}` : rosterPath);
}

function reportProblems (problems: readonly RosterProblem[], where: (row: number) => string, io: ClassroomIo): void {
  for (const problem of problems) io.stderr.write(`${where(problem.row)}: ${problem.message}\n`);
}

function reportCollisions (collisions: readonly NamespaceCollision[], where: (row: number) => string, io: ClassroomIo): void {
  // Collisions are resolved, not fatal, but the teacher must know why a student's namespace has a suffix.
  for (const collision of collisions) {
    io.stderr.write(`kubegate classroom: namespace "${collision.candidate}" would be shared; each of these gets a hash suffix (pin a namespace in the roster to choose another name):\n`);
    for (const member of collision.members) io.stderr.write(`  ${where(member.row)}: ${member.email} -> ${member.namespace}\n`);
  }
}

function writeManifests (plan: ClassroomPlan, io: ClassroomIo): number {
  io.stdout.write(toYaml(plan));
  io.stderr.write(`kubegate classroom: ${count(plan.students.length, 'student')}, ${count(plan.instructors.length, 'instructor')}, ${count(plan.objects.length, 'object')}\n`);
  return EXIT_OK;
}

/** Prune commands for `students` (all when undefined); a name that is not a student's is an error, not a no-op. */
function writePruneCommands (plan: ClassroomPlan, students: readonly string[] | undefined, io: ClassroomIo): number {
  if (students !== undefined) {
    const known = new Set(plan.students.map((s) => s.email.toLowerCase()));
    const unknown = students.filter((e) => !known.has(e.trim().toLowerCase()));
    if (unknown.length > 0) {
      io.stderr.write(`kubegate classroom: not a student on the roster: ${unknown.join(', ')}\n`);
      return EXIT_INVALID_INPUT;
    }
  }
  io.stdout.write(pruneCommands(plan, students));
  return EXIT_OK;
}

function usage (io: ClassroomIo, message: string): number {
  io.stderr.write(`kubegate classroom: ${message}\n\n${CLASSROOM_USAGE}`);
  return EXIT_USAGE;
}

async function read (readFile: ReadText, path: string, io: ClassroomIo): Promise<string | undefined> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    io.stderr.write(`${path}: cannot read${code === undefined ? '' : ` (${code})`}\n`);
    return undefined;
  }
}

function count (n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

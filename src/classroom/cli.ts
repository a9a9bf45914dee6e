import { readFile as readFileFromDisk } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { pruneCommands, renderClassroom, toYaml } from './render.js';
import type { StudentRole } from './render.js';
import { detectRosterFormat, parseRoster } from './roster.js';
import type { RosterFormat } from './roster.js';
import { DEFAULT_TEMPLATE, parseTemplate } from './template.js';

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

/**
 * `kubegate classroom ...`: `argv` is what follows `classroom`. Never exits the process and never throws for
 * bad input: problems go to `io.stderr` and the exit code says what happened.
 */
export async function runClassroomCommand (argv: string[], io: ClassroomIo): Promise<number> {
  const readFile = io.readFile ?? ((path: string) => readFileFromDisk(path, 'utf8'));
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    (command === undefined ? io.stderr : io.stdout).write(CLASSROOM_USAGE);
    return command === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (command !== 'render') return usage(io, `unknown command "${command}"`);

  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      strict: true,
      allowPositionals: false,
      options: {
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
      },
    }));
  } catch (error) {
    return usage(io, (error as Error).message);
  }
  if (values.help) {
    io.stdout.write(CLASSROOM_USAGE);
    return EXIT_OK;
  }
  if (values.roster === undefined) return usage(io, '--roster is required');
  if (values.format !== undefined && values.format !== 'yaml' && values.format !== 'csv') return usage(io, '--format must be yaml or csv');
  const studentRole = values['student-role'] as StudentRole;
  if (!STUDENT_ROLES.includes(studentRole)) return usage(io, `--student-role must be one of ${STUDENT_ROLES.join(', ')}`);
  if (values.student !== undefined && !values['prune-labels']) return usage(io, '--student is only used with --prune-labels');

  const rosterPath = values.roster;
  let template = DEFAULT_TEMPLATE;
  let failed = false;
  if (values.template !== undefined) {
    const text = await read(readFile, values.template, io);
    if (text === undefined) return EXIT_INVALID_INPUT;
    const parsed = parseTemplate(text);
    for (const problem of parsed.problems) io.stderr.write(`${values.template}: ${problem}\n`);
    failed = parsed.problems.length > 0;
    template = parsed.template;
  }
  const text = await read(readFile, rosterPath, io);
  if (text === undefined) return EXIT_INVALID_INPUT;
  const roster = parseRoster(text, (values.format as RosterFormat | undefined) ?? detectRosterFormat(rosterPath));
  const where = (row: number): string => (row > 0 ? `${rosterPath}:${row}` : rosterPath);
  for (const problem of roster.problems) io.stderr.write(`${where(problem.row)}: ${problem.message}\n`);
  if (roster.problems.length > 0 || failed) return EXIT_INVALID_INPUT;

  const plan = renderClassroom(roster.entries, {
    className: values.class,
    studentRole,
    clusterView: values['cluster-view'],
    instructorGroup: values['instructor-group'],
    usernamePrefix: values['username-prefix'],
    groupsPrefix: values['groups-prefix'],
    namespacePrefix: values['namespace-prefix'],
    networkPolicy: !values['no-network-policy'],
    template,
  });
  for (const problem of plan.problems) io.stderr.write(`${where(problem.row)}: ${problem.message}\n`);
  if (plan.problems.length > 0) return EXIT_INVALID_INPUT;
  // Collisions are resolved, not fatal, but the teacher must know why a student's namespace has a suffix.
  for (const collision of plan.collisions) {
    io.stderr.write(`kubegate classroom: namespace "${collision.candidate}" would be shared; each of these gets a hash suffix (pin a namespace in the roster to choose another name):\n`);
    for (const member of collision.members) io.stderr.write(`  ${where(member.row)}: ${member.email} -> ${member.namespace}\n`);
  }

  if (values['prune-labels']) {
    if (values.student !== undefined) {
      const known = new Set(plan.students.map((s) => s.email.toLowerCase()));
      const unknown = values.student.filter((e) => !known.has(e.trim().toLowerCase()));
      if (unknown.length > 0) {
        io.stderr.write(`kubegate classroom: not a student on the roster: ${unknown.join(', ')}\n`);
        return EXIT_INVALID_INPUT;
      }
    }
    io.stdout.write(pruneCommands(plan, values.student));
    return EXIT_OK;
  }
  io.stdout.write(toYaml(plan));
  io.stderr.write(`kubegate classroom: ${count(plan.students.length, 'student')}, ${count(plan.instructors.length, 'instructor')}, ${count(plan.objects.length, 'object')}\n`);
  return EXIT_OK;
}

function usage (io: ClassroomIo, message: string): number {
  io.stderr.write(`kubegate classroom: ${message}\n\n${CLASSROOM_USAGE}`);
  return EXIT_USAGE;
}

async function read (readFile: (path: string) => Promise<string>, path: string, io: ClassroomIo): Promise<string | undefined> {
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

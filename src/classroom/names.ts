// Namespace and label names for a class, derived from roster emails as DNS-1123 labels (hashed when they would collide or not fit).
import { createHash } from 'node:crypto';

/** Longest Kubernetes namespace name: a DNS-1123 label (RFC 1123 §2.1, 63 octets). */
export const MAX_NAMESPACE_LENGTH = 63;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;

/**
 * Namespaces a roster must never claim: binding a student to `admin` in one of these would hand them the
 * cluster's own workloads (kube-system) or kubegate itself, whose service account may impersonate anyone.
 */
const RESERVED_NAMESPACES = new Set(['default', 'kube-system', 'kube-public', 'kube-node-lease', 'kubegate']);

/** Letters that Unicode decomposition does not reduce to ASCII but that have a conventional spelling. */
const TRANSLITERATIONS: Readonly<Record<string, string>> = {
  ß: 'ss', æ: 'ae', œ: 'oe', ø: 'o', đ: 'd', ð: 'd', þ: 'th', ł: 'l', ı: 'i', ŋ: 'n', ħ: 'h', ŧ: 't', ĸ: 'k',
};

const HASH_LENGTH = 6;

/** True when `name` is a valid DNS-1123 label (what Kubernetes requires of a namespace name). */
export function isDns1123Label (name: string): boolean {
  return name.length <= MAX_NAMESPACE_LENGTH && DNS1123_LABEL.test(name);
}

/** True when `value` may be used as a Kubernetes label value. */
export function isLabelValue (value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** True for namespaces that belong to the cluster or to kubegate and must not be handed to a student. */
export function isReservedNamespace (name: string): boolean {
  return RESERVED_NAMESPACES.has(name) || name.startsWith('kube-');
}

/**
 * Short, stable hash of an email, used to disambiguate names. Lower-cased first: mail domains are
 * case-insensitive and nobody expects `Alice@X` and `alice@x` to be two students.
 */
export function emailHash (email: string, length = HASH_LENGTH): string {
  return createHash('sha256').update(email.trim().toLowerCase(), 'utf8').digest('hex').slice(0, length);
}

/** Local part of an email: everything before the last `@` (a quoted local part may itself contain `@`). */
export function localPart (email: string): string {
  const at = email.lastIndexOf('@');
  return at === -1 ? email : email.slice(0, at);
}

/** Turns an arbitrary label-like string into a valid label value (for the optional roster group). */
export function toLabelValue (value: string): string {
  const { text } = transliterate(value.trim().toLowerCase());
  return truncate(text.replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, ''), 63);
}

/** Result of deriving a namespace name from an email, before collisions with other students are resolved. */
export interface DerivedName {
  /** The candidate name (prefix included), always a valid DNS-1123 label. */
  readonly name: string;
  /** True when the hash of the email was appended (untransliterable characters, reserved or empty name). */
  readonly hashed: boolean;
}

/**
 * Derives a namespace from an email's local part: lower-cased, `.`/`_`/`+` and other separators become `-`,
 * accented Latin letters lose their accents, and what cannot be transliterated (e.g. CJK) is replaced by a hash
 * of the email so that two such students never share a name. The result is cut to fit 63 characters.
 */
export function deriveNamespaceName (email: string, prefix = ''): DerivedName {
  const { text, lossy } = transliterate(localPart(email.trim()).toLowerCase());
  const base = text.replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  if (base === '' || lossy) return { name: withHash(prefix + (base === '' ? 'user' : base), email), hashed: true };
  const name = truncate(prefix + base, MAX_NAMESPACE_LENGTH);
  // A student called `default@…` or `kube-system@…` must not be made admin of that namespace, and `kube-` is
  // reserved for Kubernetes as a whole, so the name is moved out of the way rather than just suffixed.
  if (isReservedNamespace(name)) return { name: withHash(`user-${name}`, email), hashed: true };
  return { name, hashed: false };
}

/** Appends `-<hash>` to `base`, shortening `base` so that the whole still fits in a label. */
export function withHash (base: string, email: string, length = HASH_LENGTH): string {
  const suffix = `-${emailHash(email, length)}`;
  const head = truncate(base, MAX_NAMESPACE_LENGTH - suffix.length);
  return head === '' ? emailHash(email, length) : head + suffix;
}

function truncate (name: string, max: number): string {
  // Cutting may leave a trailing `-`, which a DNS-1123 label may not end with.
  return name.length <= max ? name : name.slice(0, max).replace(/[^a-z0-9]+$/, '');
}

function transliterate (input: string): { text: string, lossy: boolean } {
  let text = '';
  let lossy = false;
  // NFKD splits "é" into "e" + a combining accent, and folds compatibility forms (full-width letters, ligatures).
  for (const char of input.normalize('NFKD')) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x80) {
      text += char;
    } else if (/\p{M}/u.test(char)) {
      // Combining marks: dropping them is the transliteration.
    } else if (TRANSLITERATIONS[char] !== undefined) {
      text += TRANSLITERATIONS[char];
    } else {
      text += '-';
      lossy = true;
    }
  }
  return { text, lossy };
}

/** One roster row as far as naming is concerned. */
export interface NamespaceRequest {
  readonly email: string;
  /** Namespace pinned by the roster; used as is (after validation). */
  readonly namespace?: string | undefined;
  /** Where the row came from, for messages (line number in the roster file). */
  readonly row: number;
}

/** A derived name that several students wanted; each derived member got a hash suffix. */
export interface NamespaceCollision {
  readonly candidate: string;
  readonly members: ReadonlyArray<{ readonly email: string, readonly row: number, readonly namespace: string }>;
}

export interface NamespaceProblem {
  readonly row: number;
  readonly message: string;
}

export interface NamespaceAssignment {
  /** Namespace for each request, in the order of the requests. */
  readonly namespaces: readonly string[];
  readonly collisions: readonly NamespaceCollision[];
  readonly problems: readonly NamespaceProblem[];
}

/**
 * Gives every student a distinct namespace. Pinned names win; when derived names clash (`a.b@x` and `A_B@y` both
 * give `a-b`), *every* clashing derived student gets a hash suffix, so the result depends only on the set of
 * emails, never on roster order or on who was listed first. Collisions are returned so they can be reported:
 * a teacher who prefers other names pins them in the roster's namespace column.
 */
export function assignNamespaces (requests: readonly NamespaceRequest[], prefix = ''): NamespaceAssignment {
  const problems: NamespaceProblem[] = [];
  const result: string[] = new Array<string>(requests.length).fill('');
  const pinned = new Map<string, number[]>();
  const wanted = new Map<string, number[]>();

  requests.forEach((request, index) => {
    if (request.namespace !== undefined) {
      const name = request.namespace;
      if (!isDns1123Label(name)) {
        problems.push({ row: request.row, message: `namespace "${name}" is not a valid DNS-1123 label (lower-case letters, digits and "-", at most 63, starting and ending with a letter or digit)` });
      } else if (isReservedNamespace(name)) {
        problems.push({ row: request.row, message: `namespace "${name}" is reserved for the cluster or kubegate` });
      }
      result[index] = name;
      push(pinned, name, index);
    } else {
      const derived = deriveNamespaceName(request.email, prefix);
      result[index] = derived.name;
      push(wanted, derived.name, index);
    }
  });

  for (const [name, indexes] of pinned) {
    if (indexes.length > 1) {
      const rows = indexes.map((i) => requests[i]!.row).join(', ');
      for (const i of indexes) problems.push({ row: requests[i]!.row, message: `namespace "${name}" is pinned by several rows (${rows})` });
    }
  }

  const collisions: NamespaceCollision[] = [];
  const taken = new Set<string>(pinned.keys());
  for (const [name, indexes] of wanted) if (indexes.length === 1 && !taken.has(name)) taken.add(name);
  // Sorted so that the rare second-round clash (hash prefix shared) is resolved the same way every run.
  const clashing = [...wanted].filter(([name, indexes]) => indexes.length > 1 || pinned.has(name)).sort(([a], [b]) => compare(a, b));
  for (const [candidate, indexes] of clashing) {
    const members = [...indexes].sort((a, b) => compare(requests[a]!.email.toLowerCase(), requests[b]!.email.toLowerCase()))
      .map((i) => {
        let length = HASH_LENGTH;
        let name = withHash(candidate, requests[i]!.email, length);
        while (taken.has(name) && length < 64) name = withHash(candidate, requests[i]!.email, (length += 2));
        taken.add(name);
        result[i] = name;
        return { email: requests[i]!.email, row: requests[i]!.row, namespace: name };
      });
    collisions.push({ candidate, members });
  }
  return { namespaces: result, collisions, problems: problems.sort((a, b) => a.row - b.row) };
}

function push (map: Map<string, number[]>, key: string, index: number): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [index]); else list.push(index);
}

/** Code-point order, independent of the locale of the machine that renders. */
export function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

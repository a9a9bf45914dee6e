/** One CSV record with the 1-based line on which it starts (records may span lines inside quotes). */
export interface CsvRecord {
  readonly line: number;
  readonly fields: readonly string[];
}

export interface CsvProblem {
  readonly line: number;
  readonly message: string;
}

export interface CsvResult {
  readonly records: readonly CsvRecord[];
  readonly problems: readonly CsvProblem[];
}

/**
 * RFC 4180 CSV: fields separated by commas, optionally double-quoted; `""` inside quotes is a quote; quoted
 * fields may hold commas and line breaks; CRLF or LF line ends; a UTF-8 BOM (spreadsheet exports add one) is
 * ignored. Two additions for hand-written rosters: blank lines and lines starting with `#` are skipped.
 * Malformed quoting is reported with its line rather than guessed at, since a mis-split row would give a
 * student the wrong namespace.
 */
export function parseCsv (text: string): CsvResult {
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  const input = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let line = 1;
  let i = 0;

  while (i < input.length) {
    const start = line;
    // Skip blank and comment lines (only at the start of a record, never inside quotes).
    const end = input.indexOf('\n', i);
    const content = input.slice(i, end === -1 ? input.length : end).trim();
    if (content === '' || content.startsWith('#')) {
      i = end === -1 ? input.length : end + 1;
      line++;
      continue;
    }
    const fields: string[] = [];
    let field = '';
    let bad: string | undefined;
    for (;;) {
      if (input[i] === '"') {
        i++;
        let closed = false;
        while (i < input.length) {
          const ch = input[i]!;
          if (ch === '"') {
            if (input[i + 1] === '"') { field += '"'; i += 2; continue; }
            i++;
            closed = true;
            break;
          }
          if (ch === '\n') line++;
          field += ch;
          i++;
        }
        if (!closed) { bad ??= 'unterminated quoted field'; break; }
        if (i < input.length && input[i] !== ',' && input[i] !== '\n' && input[i] !== '\r') {
          bad ??= 'unexpected text after a closing quote';
          while (i < input.length && input[i] !== ',' && input[i] !== '\n' && input[i] !== '\r') i++;
        }
      } else {
        while (i < input.length && input[i] !== ',' && input[i] !== '\n' && input[i] !== '\r') {
          if (input[i] === '"') bad ??= 'quote inside an unquoted field (quote the whole field and double the quote)';
          field += input[i];
          i++;
        }
      }
      fields.push(field);
      field = '';
      if (input[i] === ',') { i++; continue; }
      break;
    }
    if (input[i] === '\r') i++;
    if (input[i] === '\n') { i++; line++; }
    if (bad !== undefined) problems.push({ line: start, message: bad });
    else records.push({ line: start, fields });
  }
  return { records, problems };
}

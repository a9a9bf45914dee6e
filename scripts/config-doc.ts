/**
 * Generates the reference table of docs/config.md from src/config/schema.ts (`npm run docs:config`).
 * test/unit/config/doc.test.ts fails when the committed doc and the schema disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { flattenSchema } from '../src/config/schema.js'

export const BEGIN = '<!-- BEGIN GENERATED: npm run docs:config -->'
export const END = '<!-- END GENERATED -->'

function fmtDefault (v: unknown): string {
  if (v === undefined) return ''
  if (Array.isArray(v)) return '`' + v.join(',') + '`'
  return '`' + String(v) + '`'
}

export function renderTable (): string {
  const rows = ['| YAML key | flag | environment | type | default | meaning |', '| --- | --- | --- | --- | --- | --- |']
  for (const f of flattenSchema()) {
    const extra = [
      f.spec.required === true ? '**required**' : '',
      f.spec.min !== undefined ? `min ${f.spec.min}` : '',
      f.spec.max !== undefined ? `max ${f.spec.max}` : '',
      f.spec.choices !== undefined ? `one of ${f.spec.choices.join(', ')}` : '',
      f.spec.secretFile === true ? 'path to a secret file' : '',
    ].filter((x) => x !== '').join('; ')
    rows.push(`| \`${f.path}\` | \`--${f.flag}\` | \`${f.env}\` | ${f.spec.type} | ${fmtDefault(f.spec.default)} | ${f.spec.doc.replace(/\|/g, '\\|')}${extra === '' ? '' : ` (${extra})`} |`)
  }
  return rows.join('\n')
}

export function renderDoc (current: string): string {
  const a = current.indexOf(BEGIN)
  const b = current.indexOf(END)
  if (a === -1 || b === -1 || b < a) throw new Error('docs/config.md lacks the generated-section markers')
  return current.slice(0, a + BEGIN.length) + '\n' + renderTable() + '\n' + current.slice(b)
}

if (process.argv[1]?.endsWith('config-doc.ts') === true) {
  const path = new URL('../docs/config.md', import.meta.url)
  writeFileSync(path, renderDoc(readFileSync(path, 'utf8')))
  process.stdout.write('docs/config.md updated\n')
}

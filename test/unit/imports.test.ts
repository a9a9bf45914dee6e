// src/ has no import circles (type-only imports included): layers depend one way.
import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src')
const IMPORT = /(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/g

function sourceFiles (dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : []
  })
}

/** Relative imports of every file, resolved to files (`./x.js` is `./x.ts`). */
function importGraph (): Map<string, string[]> {
  const graph = new Map<string, string[]>()
  for (const f of sourceFiles(SRC)) {
    const deps = [...readFileSync(f, 'utf8').matchAll(IMPORT)].map((m) => resolve(dirname(f), (m[1] as string).replace(/\.js$/, '.ts')))
    graph.set(f, deps)
  }
  return graph
}

/** Every cycle found by a depth-first walk, as `a.ts -> b.ts -> a.ts` relative to src/. */
function cycles (graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>()
  const stack: string[] = []
  const found: string[] = []
  const visit = (f: string): void => {
    state.set(f, 'open')
    stack.push(f)
    for (const d of graph.get(f) ?? []) {
      if (!graph.has(d)) continue
      if (state.get(d) === 'open') found.push([...stack.slice(stack.indexOf(d)), d].map((x) => relative(SRC, x)).join(' -> '))
      else if (!state.has(d)) visit(d)
    }
    stack.pop()
    state.set(f, 'done')
  }
  for (const f of graph.keys()) if (!state.has(f)) visit(f)
  return found
}

describe('import graph', () => {
  it('sees the imports (the check itself works)', () => {
    const graph = importGraph()
    assert.ok(graph.size > 40)
    const main = graph.get(join(SRC, 'main.ts')) ?? []
    assert.ok(main.includes(join(SRC, 'server/handler.ts')))
    assert.deepEqual(cycles(new Map([['a', ['b']], ['b', ['a']]])).length, 1)
  })

  it('has no circles in src/', () => {
    assert.deepEqual(cycles(importGraph()), [])
  })
})

/** The kubegate code under benchmark: src/ compiled by tsc, which is what production runs (`node dist/cli.js`). */
import { execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { BENCH_DIR } from './procs.js'

/** Set by the orchestrator for its children: the directory of the compiled kubegate. */
export const DIST_ENV = 'KUBEGATE_BENCH_DIST'

/**
 * Compiles src/ with the project's tsconfig.build.json into `outDir`. Measuring src/ through tsx instead
 * measured esbuild's transform, not kubegate: it wraps every function expression in a `__name(fn, "...")`
 * call (keepNames), which defines a property on each closure as it is created — 1.4% of kubegate's busy
 * CPU in requestInfo alone in scenario 1's profile of 2026-12-03.
 */
export function buildKubegate (): { dir: string, remove: () => void } {
  // Inside the project's node_modules, so the compiled tree resolves the same packages as src/ does.
  const dir = join(BENCH_DIR, '..', 'node_modules', '.cache', 'kubegate-bench', String(process.pid))
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n')
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', join(BENCH_DIR, '..', 'tsconfig.build.json'), '--outDir', dir, '--sourceMap', 'false'], { stdio: 'inherit' })
  return { dir, remove: () => { rmSync(dir, { recursive: true, force: true }) } }
}

/** Imports a kubegate module (`main.js`, `upstream/forwarder.js`) from the compiled tree, or from src/ under tsx when unset. */
export async function kubegateModule<T> (path: string): Promise<T> {
  const dist = process.env[DIST_ENV]
  const url = dist === undefined || dist === '' ? new URL(`../../src/${path}`, import.meta.url).href : pathToFileURL(join(dist, path)).href
  return await import(url) as T
}

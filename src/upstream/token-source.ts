// kubegate's own service-account token, re-read from its file on rotation and kept as a precomputed header value.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'

export interface TokenSource {
  /** The current `Bearer <token>` header value (precomputed: this is read on every request). */
  readonly header: string
  /** Re-reads the file now (SIGHUP, tests); resolves true when the token changed. */
  reload: () => Promise<boolean>
  close: () => void
}

export interface TokenSourceOptions {
  readonly file?: string | undefined
  readonly staticToken?: string | undefined
  readonly refreshMs: number
  readonly onError?: (err: unknown) => void
  readonly onChange?: () => void
}

function clean (text: string, file: string): string {
  const t = text.trim()
  if (t === '' || /\s/.test(t)) throw new Error(`token file ${file} is empty or malformed`)
  return t
}

/**
 * kubegate's own credential. Bound service-account tokens rotate (the kubelet rewrites the projected file
 * well before expiry, through an atomic symlink swap that file watchers miss), so the file is re-read on a
 * timer, like client-go's cached file token source. A failed read keeps the previous token.
 */
export function createTokenSource (options: TokenSourceOptions): TokenSource {
  let header: string
  let timer: NodeJS.Timeout | undefined
  const file = options.file
  if (file !== undefined) {
    header = 'Bearer ' + clean(readFileSync(file, 'utf8'), file)
  } else if (options.staticToken !== undefined) {
    header = 'Bearer ' + options.staticToken
  } else {
    throw new Error('no upstream token')
  }

  async function reload (): Promise<boolean> {
    if (file === undefined) return false
    try {
      const next = 'Bearer ' + clean(await readFile(file, 'utf8'), file)
      if (next === header) return false
      header = next
      options.onChange?.()
      return true
    } catch (err) {
      options.onError?.(err)
      return false
    }
  }

  if (file !== undefined) {
    timer = setInterval(() => { void reload() }, options.refreshMs)
    timer.unref()
  }

  return {
    get header () { return header },
    reload,
    close () {
      if (timer !== undefined) clearInterval(timer)
    },
  }
}

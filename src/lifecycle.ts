// Process lifecycle around a running kubegate: the rolling-update shutdown sequence and reload on SIGHUP or file change.
import { stat, watch, type FSWatcher } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import type { Logger } from 'pino'
import { ConfigError, type Config } from './config/load.js'
import type { Kubegate } from './main.js'
import { ReloadError } from './reload.js'

export interface ShutdownOptions {
  /** Keep accepting (readiness failing) this long, so endpoints stop routing here first. */
  readonly delayMs: number
  /** Then wait this long for ordinary requests before ending watches and upgraded sessions. */
  readonly graceMs: number
}

export interface ShutdownReport {
  /** Every ordinary request finished within the grace period. */
  readonly drained: boolean
  /** Watches and upgraded sessions ended at the end. */
  readonly sessionsClosed: number
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

/**
 * The rolling-update sequence Kubernetes expects of a server behind a Service:
 *  1. `/readyz` fails at once, but the listener keeps accepting for `delayMs`: kube-proxy and load balancers
 *     learn about the endpoint removal asynchronously, and a listener that closed at once would refuse
 *     connections still routed here;
 *  2. stop accepting; kept-alive connections get `Connection: close` on their next response;
 *  3. ordinary requests finish, up to `graceMs`;
 *  4. watches end with their terminating chunk (clients re-list against another replica) and WebSocket
 *     sessions get a close frame; then everything is released.
 * Keep `delayMs + graceMs` below the pod's terminationGracePeriodSeconds.
 */
export async function shutdown (kg: Kubegate, options: ShutdownOptions): Promise<ShutdownReport> {
  const log = kg.logger
  kg.beginShutdown()
  log.info({ delayMs: options.delayMs, graceMs: options.graceMs }, 'shutdown: readiness failing, still accepting')
  if (options.delayMs > 0) await sleep(options.delayMs)
  kg.stopAccepting()
  log.info({ inflight: kg.inflight() }, 'shutdown: no longer accepting; draining requests')
  const deadline = Date.now() + options.graceMs
  while (kg.inflight() > 0 && Date.now() < deadline) await sleep(25)
  const drained = kg.inflight() === 0
  if (!drained) log.warn({ inflight: kg.inflight() }, 'shutdown: grace period over; ending what is left')
  const sessionsClosed = kg.closeSessions()
  log.info({ sessionsClosed }, 'shutdown: watches and sessions ended')
  await kg.close()
  return { drained, sessionsClosed }
}

export interface ReloaderOptions {
  readonly kg: Kubegate
  /** Reads the configuration again (same file, environment and flags); throws ConfigError when invalid. */
  readonly load: () => Config
  /** Files whose change triggers a reload, for a given configuration (plus the config file itself). */
  readonly files: (config: Config) => readonly string[]
  readonly initial: Config
  /** Periodic stat of the files (0: off); catches what fs.watch misses (network filesystems, some symlink swaps). */
  readonly pollMs: number
  /** Debounce of file events: a rotation writes several files. */
  readonly debounceMs?: number
  readonly logger: Logger
}

export interface Reloader {
  /** Reloads now (SIGHUP); resolves when done, whatever the outcome (it is logged and counted). */
  readonly reload: (reason: string) => Promise<boolean>
  readonly close: () => void
}

/** The files a configuration reads and that kubegate can reload without a restart. */
export function reloadableFiles (config: Config, configFile: string | undefined): string[] {
  const out = [configFile, config.tls.certFile, config.tls.privateKeyFile, config.oidc.caFile, config.authentication.configFile, config.upstream.caFile,
    config.upstream.tokenFile, config.upstream.kubeconfig]
  return [...new Set(out.filter((f): f is string => f !== undefined).map((f) => resolve(f)))]
}

/** `--config x`, `--config=x` or KUBEGATE_CONFIG, as loadConfig reads it. */
export function configFileFrom (argv: readonly string[], env: Readonly<Record<string, string | undefined>>): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (a === '--config') return argv[i + 1]
    if (a.startsWith('--config=')) return a.slice('--config='.length)
  }
  return env.KUBEGATE_CONFIG
}

/** A file's identity and content stamp (inode, size, mtime), or `missing`. */
function fileSignature (file: string): Promise<string> {
  return new Promise((res) => stat(file, (err, s) => res(err === null ? `${s.ino}:${s.size}:${s.mtimeMs}` : 'missing')))
}

async function snapshotFiles (files: readonly string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>()
  for (const f of files) m.set(f, await fileSignature(f))
  return m
}

/**
 * Watches the directories holding `files`; `onChange` on an event for one of them or for the atomic writer
 * of Secret and projected volumes (`..data`, `..2024_01_01...`).
 */
function watchDirectories (files: readonly string[], onChange: () => void, logger: Logger): FSWatcher[] {
  const byDir = new Map<string, Set<string>>()
  for (const f of files) {
    const d = dirname(f)
    let set = byDir.get(d)
    if (set === undefined) byDir.set(d, set = new Set())
    set.add(basename(f))
  }
  const watchers: FSWatcher[] = []
  for (const [dir, names] of byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, name) => {
        const n = name?.toString()
        if (n === undefined || names.has(n) || n.startsWith('..')) onChange()
      })
      w.on('error', () => w.close())
      watchers.push(w)
    } catch (err) {
      logger.warn({ dir, err: (err as Error).message }, 'cannot watch directory; relying on the periodic check')
    }
  }
  return watchers
}

/**
 * Reload on SIGHUP and on file change. Directories are watched rather than files: Kubernetes updates
 * Secret and projected volumes by swapping a `..data` symlink, which a watch on the file itself never sees;
 * a periodic stat (following symlinks) backs the watches up. A reload that fails (invalid YAML, a key that
 * does not match its certificate, an unreachable new issuer) is logged and the running configuration stays.
 */
class FileReloader implements Reloader {
  readonly #o: ReloaderOptions
  readonly #debounceMs: number
  #files: readonly string[]
  #watchers: FSWatcher[] = []
  #signatures = new Map<string, string>()
  #debounce: NodeJS.Timeout | undefined
  #poll: NodeJS.Timeout | undefined
  #running: Promise<boolean> | undefined
  #again = false
  #closed = false

  constructor (options: ReloaderOptions) {
    this.#o = options
    this.#debounceMs = options.debounceMs ?? 250
    this.#files = options.files(options.initial)
    this.#rewatch()
    void snapshotFiles(this.#files).then((m) => { this.#signatures = m })
    if (options.pollMs > 0) {
      this.#poll = setInterval(() => { this.#pollFiles() }, options.pollMs)
      this.#poll.unref()
    }
  }

  readonly reload = async (reason: string): Promise<boolean> => {
    if (this.#closed) return false
    if (this.#running !== undefined) {
      // A change arrived during a reload: run once more afterwards, with whatever is on disk then.
      this.#again = true
      return this.#running
    }
    this.#running = this.#attemptUntilSettled(reason)
    try {
      return await this.#running
    } finally {
      this.#running = undefined
    }
  }

  readonly close = (): void => {
    this.#closed = true
    if (this.#debounce !== undefined) clearTimeout(this.#debounce)
    if (this.#poll !== undefined) clearInterval(this.#poll)
    for (const w of this.#watchers) w.close()
    this.#watchers = []
  }

  async #attemptUntilSettled (reason: string): Promise<boolean> {
    let ok = await this.#attempt(reason)
    while (this.#again && !this.#closed) {
      this.#again = false
      ok = await this.#attempt(reason)
    }
    return ok
  }

  /** Loads the configuration and applies it; logs and counts the outcome. */
  async #attempt (reason: string): Promise<boolean> {
    const { kg, logger } = this.#o
    const at = Date.now()
    let config: Config
    try {
      config = this.#o.load()
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems : [(err as Error).message]
      logger.error({ reason, problems }, 'configuration reload refused: invalid configuration; keeping the current one')
      kg.metrics.onReload(false, at)
      return false
    }
    try {
      const changed = await kg.reload(config)
      kg.metrics.onReload(true, at)
      logger.info({ reason, changed }, changed.length === 0 ? 'configuration reloaded: nothing changed' : 'configuration reloaded')
      this.#followFiles(config)
      return true
    } catch (err) {
      const msg = err instanceof ReloadError ? err.message : String(err)
      logger.error({ reason, err: msg }, 'configuration reload refused; keeping the current one')
      kg.metrics.onReload(false, at)
      return false
    } finally {
      this.#signatures = await snapshotFiles(this.#files)
    }
  }

  /** The new configuration may read other files: watch those from now on. */
  #followFiles (config: Config): void {
    const next = this.#o.files(config)
    if (next.join('\n') === this.#files.join('\n')) return
    this.#files = next
    this.#rewatch()
  }

  #rewatch (): void {
    for (const w of this.#watchers) w.close()
    this.#watchers = watchDirectories(this.#files, () => { this.#schedule('file change') }, this.#o.logger)
  }

  #schedule (reason: string): void {
    if (this.#closed) return
    if (this.#debounce !== undefined) clearTimeout(this.#debounce)
    this.#debounce = setTimeout(() => {
      this.#debounce = undefined
      void this.reload(reason)
    }, this.#debounceMs)
    this.#debounce.unref()
  }

  #pollFiles (): void {
    if (this.#running !== undefined) return
    void snapshotFiles(this.#files).then((m) => {
      for (const [f, sig] of m) {
        if (this.#signatures.get(f) !== sig) {
          this.#signatures = m
          this.#schedule('file change (poll)')
          return
        }
      }
    })
  }
}

/** Starts watching the configuration's files; see FileReloader. */
export function createReloader (options: ReloaderOptions): Reloader {
  return new FileReloader(options)
}

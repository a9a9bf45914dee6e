// The audit log: apiserver-shaped audit events from access records, appended to a file without blocking requests.
import { createWriteStream, type WriteStream } from 'node:fs'
import type { Logger } from 'pino'
import type { Config } from '../config/load.js'
import { requestInfo } from '../k8s/request-info.js'
import type { AccessRecord } from './access-record.js'

export interface AuditLogOptions {
  readonly file: string
  /** Events held while the file is slow; beyond this they are dropped (and counted), never blocking requests. */
  readonly maxBuffered: number
  readonly logger?: Logger
  readonly onDropped?: (n: number) => void
  readonly now?: () => number
}

export interface AuditLog {
  /** Queues one event for this finished request; never throws, never waits. */
  readonly record: (r: AccessRecord) => void
  /** Reopens the file (log rotation: the old one was renamed away). */
  readonly reopen: () => void
  /** Events waiting to be written. */
  readonly pending: () => number
  /** Writes what is buffered and closes the file. */
  readonly close: () => Promise<void>
}

/** The apiserver's MicroTime: RFC 3339 with exactly six fractional digits, UTC. */
export function microTime (ms: number): string {
  const iso = new Date(Math.floor(ms)).toISOString() // 2024-01-02T03:04:05.678Z
  const micros = Math.floor((ms - Math.floor(ms)) * 1000)
  return iso.slice(0, 23) + String(micros).padStart(3, '0') + 'Z'
}

/**
 * One `audit.k8s.io/v1` Event at level Metadata, stage ResponseComplete, as kube-apiserver's log backend
 * writes them, so existing audit tooling ingests kubegate's view: the person (the apiserver's own audit
 * log shows kubegate's service account impersonating them, under the same `auditID`, which kubegate sends
 * as `Audit-ID`). No request or response bodies and no headers beyond the user agent.
 */
export function auditEvent (r: AccessRecord, stageMs: number): Record<string, unknown> {
  const info = requestInfo(r.method, r.uri)
  const ev: Record<string, unknown> = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    level: 'Metadata',
    auditID: r.requestId,
    stage: 'ResponseComplete',
    requestURI: r.uri,
    verb: r.verb,
    user: r.user === undefined ? {} : { username: r.user, groups: r.groups ?? [] },
    // As the apiserver's own events: `user` who authenticated, `impersonatedUser` whom the request ran as.
    ...(r.impersonatedUser === undefined ? {} : { impersonatedUser: { username: r.impersonatedUser, groups: r.impersonatedGroups ?? [] } }),
    sourceIPs: r.remoteAddress === undefined ? [] : [r.remoteAddress],
  }
  if (r.userAgent !== undefined) ev.userAgent = r.userAgent
  if (info.isResourceRequest) {
    const ref: Record<string, string> = { resource: info.resource }
    if (info.namespace !== '') ref.namespace = info.namespace
    if (info.name !== '') ref.name = info.name
    ref.apiGroup = info.apiGroup
    ref.apiVersion = info.apiVersion
    if (info.subresource !== '') ref.subresource = info.subresource
    ev.objectRef = ref
  }
  ev.responseStatus = { metadata: {}, code: r.status }
  ev.requestReceivedTimestamp = microTime(stageMs - r.durationMs)
  ev.stageTimestamp = microTime(stageMs)
  if (r.failure !== undefined) ev.annotations = { 'kubegate.io/failure': r.failure }
  return ev
}

/**
 * Audit events appended to a file asynchronously: serialised on the request's completion, written in
 * batches behind the stream's backpressure, with a hard bound on what waits in memory (a full disk or a
 * stalled NFS mount must not grow the heap or slow requests; drops are counted and logged).
 */
class FileAuditLog implements AuditLog {
  readonly #o: AuditLogOptions
  readonly #now: () => number
  #stream: WriteStream
  #queue: string[] = []
  #writing = false
  #dropped = 0
  #lastDropLog = 0
  #closed = false
  /** Called when a batch is written (or drained); stable, so it can be removed from the old stream on reopen. */
  readonly #done = (): void => {
    this.#writing = false
    this.#flush()
  }

  readonly #flushSoon = (): void => { this.#flush() }

  constructor (options: AuditLogOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#stream = this.#open()
  }

  record (r: AccessRecord): void {
    if (this.#closed) return
    if (this.#queue.length >= this.#o.maxBuffered) return this.#drop()
    this.#queue.push(JSON.stringify(auditEvent(r, this.#now())) + '\n')
    if (!this.#writing) setImmediate(this.#flushSoon)
  }

  reopen (): void {
    if (this.#closed) return
    const old = this.#stream
    // A batch may be waiting for the old stream's 'drain'; it is written (end() flushes), move on.
    if (this.#writing) {
      old.removeListener('drain', this.#done)
      this.#writing = false
    }
    this.#stream = this.#open()
    old.end()
    this.#flush()
  }

  pending (): number {
    return this.#queue.length
  }

  async close (): Promise<void> {
    if (this.#closed) return
    const rest = this.#queue.join('')
    this.#queue = []
    this.#closed = true
    const s = this.#stream
    await new Promise<void>((resolve) => {
      if (rest !== '') s.write(rest)
      s.end(() => resolve())
      s.once('error', () => resolve())
    })
  }

  #open (): WriteStream {
    const { file, logger } = this.#o
    const s = createWriteStream(file, { flags: 'a', mode: 0o600 })
    s.on('error', (err) => logger?.error({ err: err.message, file }, 'audit file write failed'))
    return s
  }

  #flush (): void {
    if (this.#writing || this.#queue.length === 0 || this.#closed) return
    const batch = this.#queue.join('')
    this.#queue = []
    this.#writing = true
    const s = this.#stream
    if (s.write(batch)) setImmediate(this.#done)
    else s.once('drain', this.#done)
  }

  #drop (): void {
    this.#dropped++
    this.#o.onDropped?.(1)
    const t = this.#now()
    if (t - this.#lastDropLog > 10_000) {
      this.#lastDropLog = t
      this.#o.logger?.warn({ dropped: this.#dropped, file: this.#o.file }, 'audit file is not keeping up; events dropped')
    }
  }
}

/** Opens (appends to) the audit file; see FileAuditLog. */
export function createAuditLog (options: AuditLogOptions): AuditLog {
  return new FileAuditLog(options)
}

/** The audit log `config.audit` asks for; undefined when no file is set. */
export function buildAudit (audit: Config['audit'], logger: Logger, onDropped: (n: number) => void): AuditLog | undefined {
  return audit.file === undefined ? undefined : createAuditLog({ file: audit.file, maxBuffered: audit.maxBufferedEvents, logger, onDropped })
}

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
export function createAuditLog (options: AuditLogOptions): AuditLog {
  const now = options.now ?? Date.now
  let stream: WriteStream = open()
  let queue: string[] = []
  let writing = false
  let dropped = 0
  let lastDropLog = 0
  let closed = false

  function open (): WriteStream {
    const s = createWriteStream(options.file, { flags: 'a', mode: 0o600 })
    s.on('error', (err) => options.logger?.error({ err: err.message, file: options.file }, 'audit file write failed'))
    return s
  }

  function flush (): void {
    if (writing || queue.length === 0 || closed) return
    const batch = queue.join('')
    queue = []
    writing = true
    const s = stream
    const ok = s.write(batch)
    if (ok) setImmediate(done)
    else s.once('drain', done)
  }
  function done (): void {
    writing = false
    flush()
  }

  return {
    record (r) {
      if (closed) return
      if (queue.length >= options.maxBuffered) {
        dropped++
        options.onDropped?.(1)
        const t = now()
        if (t - lastDropLog > 10_000) {
          lastDropLog = t
          options.logger?.warn({ dropped, file: options.file }, 'audit file is not keeping up; events dropped')
        }
        return
      }
      queue.push(JSON.stringify(auditEvent(r, now())) + '\n')
      if (!writing) setImmediate(flush)
    },
    reopen () {
      if (closed) return
      const old = stream
      // A batch may be waiting for the old stream's 'drain'; it is written (end() flushes), move on.
      if (writing) {
        old.removeListener('drain', done)
        writing = false
      }
      stream = open()
      old.end()
      flush()
    },
    pending: () => queue.length,
    async close () {
      if (closed) return
      const rest = queue.join('')
      queue = []
      closed = true
      const s = stream
      await new Promise<void>((resolve) => {
        if (rest !== '') s.write(rest)
        s.end(() => resolve())
        s.once('error', () => resolve())
      })
    },
  }
}

/** The audit log `config.audit` asks for; undefined when no file is set. */
export function buildAudit (audit: Config['audit'], logger: Logger, onDropped: (n: number) => void): AuditLog | undefined {
  return audit.file === undefined ? undefined : createAuditLog({ file: audit.file, maxBuffered: audit.maxBufferedEvents, logger, onDropped })
}

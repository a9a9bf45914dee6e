// Kubernetes Status JSON answers for kubegate's own refusals and failures, to an HTTP response or a raw socket.
import type { ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import { ERRORS, type ErrorCode, type KubegateError, type StatusDetails } from '../errors.js'

/**
 * Kubernetes `Status` bodies (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/status/).
 * kubectl prints `message` (e.g. "error: You must be logged in to the server (Unauthorized)"), and client-go's
 * credential plugins refresh only after a 401, so the code matters as much as the body.
 */
export function statusBody (code: number, reason: string, message: string, details?: StatusDetails): string {
  if (details === undefined) {
    return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code })
  }
  // Field order and omitempty as the apiserver's encoder writes them (details before code).
  const d: Record<string, string> = {}
  if (details.name !== undefined && details.name !== '') d.name = details.name
  if (details.group !== undefined && details.group !== '') d.group = details.group
  if (details.kind !== undefined && details.kind !== '') d.kind = details.kind
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details: d, code })
}

/** Every public error body is fixed, so it is built once at start-up. */
const BODIES = new Map<ErrorCode, Buffer>()
for (const code of Object.keys(ERRORS) as ErrorCode[]) {
  const e = ERRORS[code]
  BODIES.set(code, Buffer.from(statusBody(e.status, e.reason, e.message)))
}

export function statusBuffer (code: ErrorCode): Buffer {
  return BODIES.get(code) as Buffer
}

/** The body for this error: the code's fixed one, or the apiserver-worded one it carries. */
export function errorBody (err: KubegateError): Buffer {
  if (err.publicMessage === undefined && err.details === undefined) return statusBuffer(err.code)
  return Buffer.from(statusBody(err.statusCode, err.reason, err.message, err.details))
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
}

/**
 * Answers an HTTP request with the error's Status JSON. `Connection: close` is sent when the request body
 * was not read (an unauthenticated upload is never drained: that would let anyone make kubegate read
 * arbitrary amounts of data), so the connection cannot carry a next request after unread bytes.
 */
export function sendStatus (res: ServerResponse, err: KubegateError, closeConnection: boolean): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = errorBody(err)
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': body.length,
    'cache-control': 'no-store',
  }
  if (err.retryAfter !== undefined) headers['retry-after'] = Math.max(1, Math.ceil(err.retryAfter))
  if (closeConnection) headers.connection = 'close'
  res.writeHead(err.statusCode, headers)
  res.end(body)
}

/**
 * Writes the error as a raw HTTP/1.1 response on an upgrade socket (nothing else has been written to it),
 * then ends it. Used from the server's 'upgrade' event, where no ServerResponse exists.
 */
export function sendStatusToSocket (socket: Duplex, err: KubegateError): void {
  if (socket.destroyed) return
  const body = errorBody(err)
  let head = `HTTP/1.1 ${err.statusCode} ${STATUS_TEXT[err.statusCode] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${body.length}\r\n` +
    'Cache-Control: no-store\r\n' +
    'Connection: close\r\n'
  if (err.retryAfter !== undefined) head += `Retry-After: ${Math.max(1, Math.ceil(err.retryAfter))}\r\n`
  socket.end(Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]))
  // end() flushes and sends FIN; destroy after a short grace so a client that never reads cannot pin it.
  const t = setTimeout(() => socket.destroy(), 2000)
  t.unref()
  socket.once('close', () => clearTimeout(t))
}

// The revocation admin API (`/kubegate/v1/revocations`): list, add and delete revocations, admins only.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'
import { parseBearer } from '../auth/bearer.js'
import type { Authenticated } from '../auth/authenticator.js'
import { KubegateError, toKubegateError } from '../errors.js'
import { scanClientHeaders } from '../impersonation/client-headers.js'
import { hasCredentialsInQuery } from '../k8s/request-info.js'
import { sendStatus } from '../k8s/status.js'
import type { LocalHandler } from '../server/handler.js'
import { validateRevocationInput, type Revocation, type RevocationKind, type RevocationList } from './revocations.js'

export const REVOCATIONS_PATH = '/kubegate/v1/revocations'

export interface AdminApiOptions {
  /** Members may use the API; undefined: the API is off and answers 404. */
  readonly adminGroup: string | undefined
  /** The proxy's own authentication (same cache, same 401 rules). */
  /** The proxy's authentication step for this request's token (the failed-authentication budget included). */
  readonly authenticate: (token: string, req: IncomingMessage) => Authenticated | Promise<Authenticated>
  /** The proxy's own admissions (a revoked or rate-limited admin is refused like anyone). */
  readonly admit: (auth: Authenticated) => KubegateError | undefined
  readonly revocations: RevocationList
  readonly logger: Logger
  readonly maxTokenBytes: number
}

const MAX_BODY = 16 * 1024

/** The wire form of a revocation (times as RFC 3339). */
export interface RevocationJson {
  kind: RevocationKind
  value: string
  revokedAt: string
  /**
   * User and `sub` revocations: a token issued (`iat`) after this is accepted; one issued at or before it is
   * refused. The revocation time plus the issuer clock skew allowed (`oidc.clockSkewSeconds`).
   */
  acceptsTokensIssuedAfter?: string
  expiresAt: string
  by: string
  reason?: string
}

function toJson (r: Revocation, list: RevocationList): RevocationJson {
  const after = list.acceptsTokensIssuedAfter(r)
  return {
    kind: r.kind,
    value: r.value,
    revokedAt: new Date(r.revokedAt).toISOString(),
    ...(after !== undefined ? { acceptsTokensIssuedAfter: new Date(after).toISOString() } : {}),
    expiresAt: new Date(r.expiresAt).toISOString(),
    by: r.by,
    ...(r.reason !== undefined ? { reason: r.reason } : {}),
  }
}

function sendJson (res: ServerResponse, status: number, body: unknown): void {
  const buf = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': buf.length, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
  res.end(buf)
}

function readBody (req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new KubegateError('KG_ERR_BAD_REQUEST', 'admin request body too large', { failure: 'body_too_large' }))
        req.destroy()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

/** `{ "user": "..." }` | `{ "sub": "..." }` | `{ "tokenHash": "..." }`, exactly one; optional `reason`. */
function parseTarget (fields: Record<string, unknown>): { kind: RevocationKind, value: string } | string {
  const present = (['user', 'sub', 'tokenHash'] as const).filter((k) => fields[k] !== undefined)
  if (present.length !== 1) return 'give exactly one of user, sub, tokenHash'
  const k = present[0] as 'user' | 'sub' | 'tokenHash'
  const kind: RevocationKind = k === 'tokenHash' ? 'token' : k
  const value = fields[k]
  const problem = validateRevocationInput(kind, value, undefined)
  return problem ?? { kind, value: value as string }
}

/** The caller's own input problem: answered 400 with this message (safe and useful to return). */
class BadInput extends Error {}

/** A POST body: `application/json`, a JSON object. */
async function readJsonObject (req: IncomingMessage): Promise<Record<string, unknown>> {
  const ct = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase()
  if (ct !== 'application/json') throw new BadInput('content-type must be application/json')
  const body = await readBody(req)
  try {
    const v: unknown = JSON.parse(body.toString('utf8'))
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object')
    return v as Record<string, unknown>
  } catch {
    throw new BadInput('the body must be a JSON object')
  }
}

/** What a POST asks to revoke: exactly one target, an optional reason, nothing else. */
function revocationToAdd (fields: Record<string, unknown>): { kind: RevocationKind, value: string, reason?: string } {
  const unknown = Object.keys(fields).filter((k) => !['user', 'sub', 'tokenHash', 'reason'].includes(k))
  if (unknown.length > 0) throw new BadInput(`unknown field ${unknown[0] ?? ''}`)
  const target = parseTarget(fields)
  if (typeof target === 'string') throw new BadInput(target)
  const reason = fields.reason
  const problem = validateRevocationInput(target.kind, target.value, reason)
  if (problem !== undefined) throw new BadInput(problem)
  return { ...target, ...(typeof reason === 'string' ? { reason } : {}) }
}

/** What a DELETE asks to lift: exactly one of `?user=`, `?sub=`, `?tokenHash=`, each at most once. */
function revocationToDelete (url: URL): { kind: RevocationKind, value: string } {
  const fields: Record<string, unknown> = {}
  for (const [k, v] of url.searchParams) {
    if (k !== 'user' && k !== 'sub' && k !== 'tokenHash') throw new BadInput(`unknown parameter ${k}`)
    if (fields[k] !== undefined) throw new BadInput(`parameter ${k} given twice`)
    fields[k] = v
  }
  const target = parseTarget(fields)
  if (typeof target === 'string') throw new BadInput(target)
  return target
}

interface Preflight { token: string, identityHeader: boolean, url: URL }

/**
 * Everything checked before authenticating: the API is on and this is exactly its path, no credentials in the
 * query, one `Authorization` with a bearer token of a sane size. A refusal, or what the rest needs.
 */
function preflight (req: IncomingMessage, o: AdminApiOptions): Preflight | KubegateError {
  const raw = req.url ?? ''
  const q = raw.indexOf('?')
  // Off, or not exactly ours (the prefix also matches `/kubegate/v1/revocationsX`): 404, nothing else said.
  if (o.adminGroup === undefined || (q === -1 ? raw : raw.slice(0, q)) !== REVOCATIONS_PATH) {
    return new KubegateError('KG_ERR_NOT_FOUND', undefined, { failure: 'not_found' })
  }
  if (hasCredentialsInQuery(raw)) return new KubegateError('KG_ERR_CREDENTIALS_IN_QUERY', undefined, { failure: 'credentials_in_query' })
  const scan = scanClientHeaders(req.rawHeaders)
  if (scan.authorizationCount > 1) return new KubegateError('KG_ERR_DUPLICATE_AUTHORIZATION')
  const token = parseBearer(scan.authorization)
  if (token === undefined || token.length > o.maxTokenBytes) return new KubegateError('KG_ERR_NO_TOKEN', undefined, { failure: 'no_token' })
  try {
    return { token, identityHeader: scan.identityHeader, url: new URL(raw, 'http://kubegate.invalid') }
  } catch {
    return new KubegateError('KG_ERR_BAD_REQUEST')
  }
}

/**
 * `/kubegate/v1/revocations` on the proxy listener: GET lists, POST revokes, DELETE (`?user=` | `?sub=` |
 * `?tokenHash=`) lifts a revocation. Authenticated exactly like proxied requests and authorised by membership
 * in the admin group; every refusal is a Kubernetes Status. Answered locally, never forwarded.
 */
export function createAdminApi (o: AdminApiOptions): LocalHandler {
  const refuse = (res: ServerResponse, err: KubegateError): void => {
    if (err.statusCode >= 500) o.logger.warn({ code: err.code, detail: err.detail }, 'admin request failed')
    sendStatus(res, err, !res.req.complete)
  }
  const badRequest = (res: ServerResponse, detail: string): void => {
    o.logger.info({ detail }, 'admin request refused')
    sendJson(res, 400, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: detail, reason: 'BadRequest', code: 400 })
  }

  /** The proxy's authentication and admissions, then membership in the admin group. */
  const authorize = async (req: IncomingMessage, p: Preflight): Promise<Authenticated> => {
    const auth = await o.authenticate(p.token, req)
    const denied = o.admit(auth)
    if (denied !== undefined) throw denied
    if (p.identityHeader) throw new KubegateError('KG_ERR_IDENTITY_HEADERS', undefined, { failure: 'identity_headers' })
    if (!auth.identity.groups.includes(o.adminGroup as string)) {
      o.logger.info({ user: auth.identity.user, method: req.method }, 'admin request forbidden')
      throw new KubegateError('KG_ERR_FORBIDDEN', 'not in the admin group', { failure: 'not_admin' })
    }
    return auth
  }

  const add = async (req: IncomingMessage, res: ServerResponse, by: string): Promise<void> => {
    const input = revocationToAdd(await readJsonObject(req))
    const rec = await o.revocations.add({ ...input, by })
    o.logger.info({ admin: by, kind: rec.kind, value: rec.value, reason: rec.reason }, 'revocation added')
    sendJson(res, 201, toJson(rec, o.revocations))
  }

  const remove = async (res: ServerResponse, url: URL, by: string): Promise<void> => {
    const target = revocationToDelete(url)
    const existed = await o.revocations.remove(target.kind, target.value)
    o.logger.info({ admin: by, kind: target.kind, value: target.value, existed }, 'revocation deleted')
    if (!existed) throw new KubegateError('KG_ERR_NOT_FOUND', 'no such revocation', { failure: 'not_found' })
    sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 })
  }

  const serve = async (req: IncomingMessage, res: ServerResponse, p: Preflight): Promise<void> => {
    const by = (await authorize(req, p)).identity.user
    switch (req.method) {
      case 'GET':
        sendJson(res, 200, { kind: 'RevocationList', apiVersion: 'kubegate.dev/v1', items: o.revocations.list().map((r) => toJson(r, o.revocations)) })
        return
      case 'POST': return await add(req, res, by)
      case 'DELETE': return await remove(res, p.url, by)
      default:
        res.setHeader('allow', 'GET, POST, DELETE')
        throw new KubegateError('KG_ERR_METHOD_NOT_ALLOWED')
    }
  }

  return (req, res) => {
    const p = preflight(req, o)
    if (p instanceof KubegateError) {
      refuse(res, p)
      return
    }
    serve(req, res, p).catch((err: unknown) => {
      if (err instanceof BadInput) {
        badRequest(res, err.message)
        return
      }
      const e = toKubegateError(err)
      // A store failure (Redis down) while changing the list: nothing was changed that others cannot see.
      refuse(res, e.code === 'KG_ERR_INTERNAL' && !(err instanceof KubegateError)
        ? new KubegateError('KG_ERR_STATE_UNAVAILABLE', e.detail, { failure: 'store_unavailable', retryAfter: 5 })
        : e)
    })
  }
}

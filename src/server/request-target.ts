// Checks on the request line before any header is read: HTTP version, origin-form target, kubegate's own routes, query credentials.
import type { IncomingMessage } from 'node:http'
import { KubegateError } from '../errors.js'
import { hasCredentialsInQuery } from '../k8s/request-info.js'
import type { LocalHandler } from './stages.js'

/**
 * llhttp accepts any "HTTP/x.y"; only 1.0 and 1.1 have the framing this proxy reasons about, and an upgrade
 * exists only in 1.1.
 */
export function checkHttpVersion (req: IncomingMessage, upgrade: boolean): KubegateError | undefined {
  const ok = req.httpVersionMajor === 1 && (upgrade ? req.httpVersionMinor === 1 : req.httpVersionMinor <= 1)
  return ok ? undefined : new KubegateError('KG_ERR_HTTP_VERSION', req.httpVersion, { failure: 'bad_version' })
}

/** Origin-form only (invariant 4): absolute-form and "//host" never pick a destination. */
export function checkOriginForm (url: string): KubegateError | undefined {
  if (url.charCodeAt(0) !== 0x2f || url.charCodeAt(1) === 0x2f) return new KubegateError('KG_ERR_BAD_TARGET', undefined, { failure: 'bad_target' })
  return undefined
}

/** Tokens in a query string end up in logs and browser histories; the apiserver's own are refused too. */
export function checkQueryCredentials (url: string, queryAt: number): KubegateError | undefined {
  if (queryAt !== -1 && hasCredentialsInQuery(url)) return new KubegateError('KG_ERR_CREDENTIALS_IN_QUERY', undefined, { failure: 'credentials_in_query' })
  return undefined
}

/** kubegate's own routes: exact paths matched byte-for-byte, then owned prefixes (`/kubegate/`). */
export class LocalRoutes {
  readonly #exact: ReadonlyMap<string, LocalHandler>
  readonly #prefixes: ReadonlyArray<readonly [string, LocalHandler]>

  constructor (exact: ReadonlyMap<string, LocalHandler>, prefixes: ReadonlyArray<readonly [string, LocalHandler]>) {
    this.#exact = exact
    this.#prefixes = prefixes
  }

  /** The handler for the target's path (the query ignored), or undefined for a request to forward. */
  find (url: string, queryAt: number): LocalHandler | undefined {
    const path = queryAt === -1 ? url : url.slice(0, queryAt)
    const exact = this.#exact.get(path)
    if (exact !== undefined) return exact
    for (const [prefix, h] of this.#prefixes) if (path.startsWith(prefix)) return h
    return undefined
  }
}

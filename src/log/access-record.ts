// The access record: one per request, written by the logger, counted by metrics, turned into audit events.

/** One line of the access log, also handed to metrics. Contains no header except the allow-listed user agent. */
export interface AccessRecord {
  requestId: string
  method: string
  /** Path and query as sent (queries with credentials are refused and logged without the query). */
  uri: string
  /** The authenticated user (the apiserver's audit `user`): who presented the token. */
  user: string | undefined
  groups: readonly string[] | undefined
  /** With nested impersonation, whom the request ran as (the apiserver's audit `impersonatedUser`). */
  impersonatedUser?: string | undefined
  impersonatedGroups?: readonly string[] | undefined
  verb: string
  resource: string
  subresource: string
  namespace: string
  name: string
  status: number
  bytes: number
  durationMs: number
  upstreamMs: number | undefined
  remoteAddress: string | undefined
  userAgent: string | undefined
  upgrade: string | undefined
  /** Why kubegate refused or failed the request (`expired`, `bad_signature`, `identity_headers`, ...). */
  failure: string | undefined
}

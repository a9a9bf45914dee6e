/** Who a request runs as upstream. Built only from verified token claims (src/authn/map-identity.ts). */
export interface Identity {
  /** Impersonate-User: non-empty, trimmed, no control characters, no comma. */
  readonly user: string
  /** One Impersonate-Group line each; unique, in token order. */
  readonly groups: readonly string[]
  /** Impersonate-Uid, when a uid claim is configured. */
  readonly uid: string | undefined
  /**
   * One `Impersonate-Extra-<key>` line per value (key escaped as client-go does). Keys are lower-case, as the
   * apiserver reads them; empty values never appear. Absent when nothing maps extras.
   */
  readonly extra?: Readonly<Record<string, readonly string[]>> | undefined
  /** The token's `sub` (revocation by subject). */
  readonly sub: string
  /** Token `exp`, seconds since the epoch. */
  readonly exp: number
  /** Token `iat`, seconds since the epoch, when present (revocation of tokens issued before a time). */
  readonly iat: number | undefined
}

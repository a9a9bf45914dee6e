// A revocation record: its shape, input validation, the store's key and text form, and what it covers.
import { hash } from 'node:crypto'
import type { Identity } from '../auth/identity.js'

export type RevocationKind = 'user' | 'sub' | 'token'

/** One revocation. Times are milliseconds since the epoch. */
export interface Revocation {
  readonly kind: RevocationKind
  /** User name, `sub`, or the token's SHA-256 (base64url, as `tokenHash`). */
  readonly value: string
  /** Tokens issued at or before this (plus the clock skew) are refused; for `token`, that one token. */
  readonly revokedAt: number
  /** After this no token it covers can still be valid, so it is forgotten. */
  readonly expiresAt: number
  /** The admin who revoked. */
  readonly by: string
  readonly reason?: string
}

export interface RevocationInput {
  readonly kind: RevocationKind
  readonly value: string
  readonly by: string
  readonly reason?: string
}

export const KEY_PREFIX = 'rev:'
const KINDS: readonly RevocationKind[] = ['user', 'sub', 'token']
const MAX_VALUE = 1024
const MAX_REASON = 256
const TOKEN_HASH = /^[A-Za-z0-9_-]{43}$/

/** Validates admin input; returns a problem or undefined. Values are compared byte for byte, never normalised. */
export function validateRevocationInput (kind: unknown, value: unknown, reason: unknown): string | undefined {
  if (typeof kind !== 'string' || !(KINDS as readonly string[]).includes(kind)) return 'kind must be user, sub or token'
  if (typeof value !== 'string' || value === '' || value.length > MAX_VALUE) return 'value must be a non-empty string'
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return 'value must not contain control characters'
  if (kind === 'token' && !TOKEN_HASH.test(value)) return 'a token is revoked by its SHA-256, base64url without padding (43 characters)'
  if (reason !== undefined && (typeof reason !== 'string' || reason.length > MAX_REASON)) return `reason must be a string of at most ${MAX_REASON} characters`
  return undefined
}

export function storeKey (kind: RevocationKind, value: string): string {
  // Hashed: user names are arbitrary bytes and may be long; the record holds the value.
  return KEY_PREFIX + kind + ':' + hash('sha256', value, 'base64url')
}

/** A record as stored (JSON text), or undefined when it is not a valid one. */
export function parseRecord (text: string): Revocation | undefined {
  let o: unknown
  try {
    o = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof o !== 'object' || o === null) return undefined
  const r = o as Record<string, unknown>
  if (validateRevocationInput(r.kind, r.value, r.reason) !== undefined) return undefined
  if (typeof r.revokedAt !== 'number' || typeof r.expiresAt !== 'number' || typeof r.by !== 'string') return undefined
  return {
    kind: r.kind as RevocationKind,
    value: r.value as string,
    revokedAt: r.revokedAt,
    expiresAt: r.expiresAt,
    by: r.by,
    ...(typeof r.reason === 'string' ? { reason: r.reason } : {}),
  }
}

/**
 * The time after which a token of the revoked user or `sub` must have been issued (`iat`) to be accepted:
 * the revocation time plus the clock skew allowed to the issuer. A token issued within the skew after the
 * revocation is still refused, because an issuer whose clock runs ahead of ours by up to the skew could have
 * minted it before the revocation; so a revoked user who signs in again within the skew is refused, and one
 * who signs in after this time is accepted. Undefined for a token revocation (it covers that token only).
 */
export function acceptsTokensIssuedAfter (r: Revocation, skewMs: number): number | undefined {
  return r.kind === 'token' ? undefined : r.revokedAt + skewMs
}

/** Whether `r` covers a token of this identity with this hash. */
export function covers (r: Revocation, identity: Identity, tokenHash: string, skewMs: number): boolean {
  switch (r.kind) {
    case 'token': return tokenHash === r.value
    case 'user': if (identity.user !== r.value) return false
      break
    case 'sub': if (identity.sub !== r.value) return false
      break
  }
  // No iat: we cannot tell when it was issued, so it is covered (fail closed).
  return identity.iat === undefined || identity.iat * 1000 <= r.revokedAt + skewMs
}

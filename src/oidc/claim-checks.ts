// The per-issuer token policy without keys: algorithm allow-list and registered-claim checks (iss, aud, exp, nbf, iat).
import { TokenError } from './jwt.js'

/**
 * How the token's `aud` must relate to the configured audiences. `MatchAny` (AuthenticationConfiguration's
 * only policy, required there with more than one audience): at least one configured audience is in `aud`.
 */
export type AudienceMatchPolicy = 'MatchAny'

export interface ClaimRules {
  /** `iss` must equal this exactly (no normalisation, as the apiserver). */
  readonly issuer: string
  /** `--oidc-client-id` is the one-element form. */
  readonly audiences: readonly string[]
  readonly audienceMatchPolicy?: AudienceMatchPolicy
  readonly clockSkewSec: number
}

function numericDate (payload: Readonly<Record<string, unknown>>, name: string): number | undefined {
  const v = payload[name]
  if (v === undefined) return undefined
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TokenError('malformed', `${name} is not a number`)
  return v
}

/** `aud` as a list of strings; undefined when it is neither a string nor a non-empty list of strings. */
function audienceList (aud: unknown): readonly string[] | undefined {
  if (typeof aud === 'string') return [aud]
  if (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string')) return aud as string[]
  return undefined
}

/** Whether the token's `aud` satisfies the rules' audiences under their match policy. */
export function audienceMatches (aud: unknown, rules: Pick<ClaimRules, 'audiences' | 'audienceMatchPolicy'>): boolean {
  const list = audienceList(aud)
  if (list === undefined) return false
  // MatchAny (and the single-audience case, where every policy means the same).
  return rules.audiences.some((a) => list.includes(a))
}

/**
 * Registered-claim checks, as kube-apiserver's OIDC authenticator makes them: exact `iss`, `aud` contains
 * a configured audience, `exp` required, `nbf` and `iat` within the skew. Returns `exp` in seconds.
 */
export function checkRegisteredClaims (payload: Readonly<Record<string, unknown>>, rules: ClaimRules, nowSec: number): number {
  if (payload.iss !== rules.issuer) throw new TokenError('bad_issuer')
  if (!audienceMatches(payload.aud, rules)) throw new TokenError('bad_audience')
  const exp = numericDate(payload, 'exp')
  if (exp === undefined) throw new TokenError('missing_exp')
  // RFC 7519 §4.1.4: the token must not be accepted on or after `exp` (jose and go-oidc agree).
  if (nowSec >= exp + rules.clockSkewSec) throw new TokenError('expired')
  const nbf = numericDate(payload, 'nbf')
  if (nbf !== undefined && nowSec + rules.clockSkewSec < nbf) throw new TokenError('not_yet_valid')
  const iat = numericDate(payload, 'iat')
  if (iat !== undefined && nowSec + rules.clockSkewSec < iat) throw new TokenError('issued_in_future')
  return exp
}

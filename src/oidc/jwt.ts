// Compact JWS decoding, the algorithm table and signature checks on node:crypto (no keys, no claims policy).
import { constants, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import type { VerificationKey } from './key-set.js'

/**
 * Why a token was refused. Stable strings: they label the `kubegate_authentication_total` metric and
 * appear in logs, never in responses.
 */
export type TokenFailure =
  | 'malformed'
  | 'alg_not_allowed'
  | 'forbidden_header'
  | 'unknown_kid'
  | 'bad_signature'
  | 'bad_issuer'
  | 'bad_audience'
  | 'expired'
  | 'missing_exp'
  | 'not_yet_valid'
  | 'issued_in_future'

export class TokenError extends Error {
  readonly failure: TokenFailure
  constructor (failure: TokenFailure, detail?: string) {
    super(detail === undefined ? failure : `${failure}: ${detail}`)
    this.name = 'TokenError'
    this.failure = failure
  }
}

export interface DecodedJws {
  readonly header: Readonly<Record<string, unknown>>
  readonly alg: string
  readonly kid: string | undefined
  readonly payload: Readonly<Record<string, unknown>>
  readonly signingInput: Buffer
  readonly signature: Buffer
}

interface AlgSpec {
  readonly hash: string | null
  readonly keyTypes: readonly string[]
  readonly curve?: string
  readonly padding?: number
  readonly saltLength?: number
  /** JOSE ECDSA signatures are r||s of this total length (RFC 7518 §3.4), not DER. */
  readonly sigLength?: number
}

const ALGS: Readonly<Record<string, AlgSpec>> = {
  RS256: { hash: 'sha256', keyTypes: ['rsa'] },
  RS384: { hash: 'sha384', keyTypes: ['rsa'] },
  RS512: { hash: 'sha512', keyTypes: ['rsa'] },
  PS256: { hash: 'sha256', keyTypes: ['rsa', 'rsa-pss'], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
  PS384: { hash: 'sha384', keyTypes: ['rsa', 'rsa-pss'], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 },
  PS512: { hash: 'sha512', keyTypes: ['rsa', 'rsa-pss'], padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 },
  ES256: { hash: 'sha256', keyTypes: ['ec'], curve: 'prime256v1', sigLength: 64 },
  ES384: { hash: 'sha384', keyTypes: ['ec'], curve: 'secp384r1', sigLength: 96 },
  ES512: { hash: 'sha512', keyTypes: ['ec'], curve: 'secp521r1', sigLength: 132 },
  EdDSA: { hash: null, keyTypes: ['ed25519', 'ed448'] },
}

/**
 * Header parameters that make a token carry or point at its own key, or demand extensions we do not
 * implement. A token that names its own key proves nothing (RFC 8725 §3.1, CVE-2018-0114 class), and
 * `crit` must be refused when not understood (RFC 7515 §4.1.11).
 */
const FORBIDDEN_HEADER = ['jwk', 'jku', 'x5u', 'x5c', 'crit', 'b64', 'zip', 'enc']

const B64URL = /^[A-Za-z0-9_-]*$/

function decodeJson (segment: string): Record<string, unknown> {
  if (!B64URL.test(segment) || segment.length % 4 === 1) throw new TokenError('malformed', 'bad base64url')
  let value: unknown
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
  } catch {
    throw new TokenError('malformed', 'not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TokenError('malformed', 'not a JSON object')
  return value as Record<string, unknown>
}

/**
 * Splits and decodes a compact JWS (RFC 7515 §7.1) and checks the header against the algorithm allow-list.
 * Nothing here is trusted yet: the signature is checked by `verifySignature`.
 */
export function decodeJws (token: string, allowedAlgs: ReadonlySet<string>): DecodedJws {
  const dot1 = token.indexOf('.')
  const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
  if (dot1 <= 0 || dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) throw new TokenError('malformed', 'not a compact JWS')
  const header = decodeJson(token.slice(0, dot1))
  const alg = header.alg
  // Exact, case-sensitive match against the allow-list: "none", "None", "HS256" can never be listed.
  if (typeof alg !== 'string' || !allowedAlgs.has(alg) || ALGS[alg] === undefined) throw new TokenError('alg_not_allowed', String(alg))
  for (const name of FORBIDDEN_HEADER) {
    if (Object.hasOwn(header, name)) throw new TokenError('forbidden_header', name)
  }
  const kid = header.kid
  if (kid !== undefined && typeof kid !== 'string') throw new TokenError('malformed', 'kid is not a string')
  const payload = decodeJson(token.slice(dot1 + 1, dot2))
  const sigSegment = token.slice(dot2 + 1)
  if (sigSegment === '' || !B64URL.test(sigSegment)) throw new TokenError('malformed', 'bad signature encoding')
  return {
    header,
    alg,
    kid,
    payload,
    signingInput: Buffer.from(token.slice(0, dot2), 'latin1'),
    signature: Buffer.from(sigSegment, 'base64url'),
  }
}

/** Whether `key` may verify `alg`: key type, curve and the JWK's own `alg` must all agree. */
export function keyFits (key: VerificationKey, alg: string): boolean {
  const spec = ALGS[alg]
  if (spec === undefined) return false
  if (!spec.keyTypes.includes(key.type)) return false
  if (spec.curve !== undefined && key.curve !== spec.curve) return false
  if (key.alg !== undefined && key.alg !== alg) return false
  return true
}

function verifyArgs (alg: string, key: KeyObject): { hash: string | null, keyArg: KeyObject | Parameters<typeof cryptoVerify>[2] } {
  const spec = ALGS[alg] as AlgSpec
  if (spec.padding !== undefined) return { hash: spec.hash, keyArg: { key, padding: spec.padding, saltLength: spec.saltLength } }
  if (spec.sigLength !== undefined) return { hash: spec.hash, keyArg: { key, dsaEncoding: 'ieee-p1363' } }
  return { hash: spec.hash, keyArg: key }
}

/** Synchronous signature check (a few tens of µs for RS256 with an imported KeyObject). */
export function verifySignatureSync (jws: DecodedJws, key: VerificationKey): boolean {
  const spec = ALGS[jws.alg] as AlgSpec
  if (spec.sigLength !== undefined && jws.signature.length !== spec.sigLength) return false
  const { hash, keyArg } = verifyArgs(jws.alg, key.key)
  try {
    return cryptoVerify(hash, jws.signingInput, keyArg as KeyObject, jws.signature)
  } catch {
    return false
  }
}

/** The same check on libuv's thread pool, keeping the event loop free for requests with cached tokens. */
export function verifySignatureAsync (jws: DecodedJws, key: VerificationKey): Promise<boolean> {
  const spec = ALGS[jws.alg] as AlgSpec
  if (spec.sigLength !== undefined && jws.signature.length !== spec.sigLength) return Promise.resolve(false)
  const { hash, keyArg } = verifyArgs(jws.alg, key.key)
  return new Promise((resolve) => {
    try {
      cryptoVerify(hash, jws.signingInput, keyArg as KeyObject, jws.signature, (err, ok) => resolve(err === null && ok))
    } catch {
      resolve(false)
    }
  })
}

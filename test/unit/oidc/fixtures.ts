/**
 * Shared keys, token builders and a fake issuer transport for the oidc and auth unit tests.
 * Keys are generated once per process (RSA generation costs ~50 ms each).
 */
import { generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto'
import { promisify } from 'node:util'
import { SignJWT } from 'jose'
import type { FetchedJson, FetchJson } from '../../../src/oidc/http-client.js'
import { signJws } from '../../helpers/forge.js'

const gen = promisify(generateKeyPair)

export const ISSUER = 'https://issuer.test/dex'
export const CLIENT_ID = 'kubegate'
export const JWKS_URI = 'https://issuer.test/dex/keys'
export const DISCOVERY_URL = 'https://issuer.test/dex/.well-known/openid-configuration'
/** A fixed, round "now" (ms) used with injected clocks. */
export const T0 = 1_750_000_000_000
export const T0_SEC = T0 / 1000

export interface TestKey {
  readonly kid: string
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  /** Public JWK as the issuer publishes it (with kid, use, alg). */
  readonly jwk: JsonWebKey
}

async function rsa (kid: string, alg: string | undefined, modulusLength = 2048): Promise<TestKey> {
  const { privateKey, publicKey } = await gen('rsa', { modulusLength })
  return makeKey(kid, privateKey, publicKey, alg)
}

function makeKey (kid: string, privateKey: KeyObject, publicKey: KeyObject, alg: string | undefined): TestKey {
  const jwk: JsonWebKey = { ...publicKey.export({ format: 'jwk' }), kid, use: 'sig' }
  if (alg !== undefined) jwk.alg = alg
  return { kid, privateKey, publicKey, jwk }
}

const [k1, k2, attacker, small] = await Promise.all([
  rsa('k1', 'RS256'),
  rsa('k2', 'RS256'),
  rsa('k1', 'RS256'), // attacker key that claims the issuer's real kid
  rsa('k-small', 'RS256', 1024),
])
// Same RSA material as k2 published under other kids/algs: only kid and alg differ (saves key generation).
const rs384Key = makeKey('k-rs384', k2.privateKey, k2.publicKey, 'RS384')
const psKey = makeKey('k-ps', k2.privateKey, k2.publicKey, 'PS256')
const ec = await gen('ec', { namedCurve: 'P-256' })
const ec384 = await gen('ec', { namedCurve: 'P-384' })
const ed = await gen('ed25519')

export const KEYS = {
  k1,
  k2,
  attacker,
  rs384: rs384Key,
  small,
  ps: psKey,
  ec: makeKey('k-ec', ec.privateKey, ec.publicKey, 'ES256'),
  ec384: makeKey('k-ec384', ec384.privateKey, ec384.publicKey, 'ES384'),
  ed: makeKey('k-ed', ed.privateKey, ed.publicKey, 'EdDSA'),
} as const

export function jwks (...keys: Array<TestKey | JsonWebKey>): { keys: JsonWebKey[] } {
  return { keys: keys.map((k) => ('jwk' in k && 'privateKey' in k ? (k as TestKey).jwk : k as JsonWebKey)) }
}

/** Dex-shaped claims for the default test configuration, `now` in seconds. */
export function validClaims (nowSec = T0_SEC, over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: CLIENT_ID,
    sub: 'CgVhbGljZRIFbG9jYWw',
    email: 'alice@example.com',
    email_verified: true,
    groups: ['dev'],
    iat: nowSec,
    exp: nowSec + 3600,
    ...over,
  }
}

/** Signs exactly the given header and claims with node:crypto (no header added, any alg). */
export function forge (header: Record<string, unknown>, claims: Record<string, unknown> | string, key?: KeyObject | string | Buffer): string {
  return signJws(header, claims, key)
}

/** Signs with jose, as a real issuer library would. */
export async function joseSign (claims: Record<string, unknown>, key: TestKey, alg = 'RS256', extraHeader: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg, kid: key.kid, typ: 'JWT', ...extraHeader }).sign(key.privateKey)
}

/** Synchronous RS256 token from k1 (or another key) for the default config. */
export function token (claims: Record<string, unknown> = validClaims(), key: TestKey = KEYS.k1, alg = 'RS256', header: Record<string, unknown> = {}): string {
  return forge({ alg, kid: key.kid, typ: 'JWT', ...header }, claims, key.privateKey)
}

export interface FakeIssuer {
  fetchJson: FetchJson
  /** Calls per URL. */
  readonly calls: string[]
  jwksFetches: () => number
  setJwks: (body: unknown, cacheControl?: string) => void
  /** Make JWKS (or discovery) fetches fail until reset. */
  failJwks: boolean
  failDiscovery: boolean
  discovery: Record<string, unknown>
  /** When set, JWKS fetches wait for this promise. */
  gate: Promise<void> | undefined
}

export function fakeIssuer (initial: { keys: JsonWebKey[] } = jwks(KEYS.k1)): FakeIssuer {
  let body: unknown = initial
  let cacheControl: string | undefined = 'public, max-age=600'
  const issuer: FakeIssuer = {
    calls: [],
    failJwks: false,
    failDiscovery: false,
    gate: undefined,
    discovery: { issuer: ISSUER, jwks_uri: JWKS_URI, id_token_signing_alg_values_supported: ['RS256'] },
    jwksFetches: () => issuer.calls.filter((c) => c === JWKS_URI).length,
    setJwks (b, cc) {
      body = b
      if (cc !== undefined) cacheControl = cc
    },
    async fetchJson (url: string): Promise<FetchedJson> {
      issuer.calls.push(url)
      if (url === DISCOVERY_URL) {
        if (issuer.failDiscovery) throw new Error('discovery down')
        return { status: 200, headers: {}, body: structuredClone(issuer.discovery) }
      }
      if (url === JWKS_URI) {
        if (issuer.gate !== undefined) await issuer.gate
        if (issuer.failJwks) throw new Error('connect ECONNREFUSED')
        return { status: 200, headers: cacheControl === undefined ? {} : { 'cache-control': cacheControl }, body: structuredClone(body) }
      }
      throw new Error(`unexpected fetch of ${url}`)
    },
  }
  return issuer
}

export function manualClock (start = T0): { now: () => number, advance: (ms: number) => void, set: (ms: number) => void } {
  let t = start
  return { now: () => t, advance: (ms) => { t += ms }, set: (ms) => { t = ms } }
}

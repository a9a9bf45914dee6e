/**
 * Hand-made JWS compact tokens for attack tests, built with node:crypto alone.
 *
 * jose (rightly) refuses to produce most of these: `alg: none`, HMAC keyed with an RSA
 * public key, mismatched alg/key pairs. A verifier must reject each of them, so tests need
 * byte-exact control over header, payload and signature.
 */
import { constants, createHmac, createPrivateKey, createPublicKey, KeyObject, sign as cryptoSign } from 'node:crypto';
import type { JsonWebKey, webcrypto } from 'node:crypto';

type CryptoKey = webcrypto.CryptoKey;

export type JwtHeader = Record<string, unknown>;
export type JwtClaims = Record<string, unknown>;
/** Anything node:crypto can sign with; strings and Buffers are HMAC secrets or PEM private keys. */
export type SigningKey = KeyObject | CryptoKey | string | Buffer;

export function b64url(input: string | Buffer | Uint8Array): string {
  return Buffer.from(input).toString('base64url');
}

/** `base64url(JSON(header)).base64url(JSON(payload))` — the bytes a JWS signature covers. */
export function signingInput(header: JwtHeader, payload: JwtClaims | string): string {
  const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return `${b64url(JSON.stringify(header))}.${b64url(body)}`;
}

function toKeyObject(key: KeyObject | CryptoKey | string | Buffer): KeyObject {
  if (key instanceof KeyObject) return key;
  if (typeof key === 'string' || Buffer.isBuffer(key)) return createPrivateKey(key);
  return KeyObject.from(key);
}

const HASH: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/**
 * Sign `header`/`payload` exactly as given, choosing the primitive from `header.alg`
 * (RS*, PS*, ES*, HS*, or none in any casing). Nothing is added to the header.
 * HS* uses `key` as the raw secret when it is a string or Buffer (that is the point of the
 * "HMAC with the public key" attack); RS/PS/ES take a private key.
 */
export function signJws(header: JwtHeader, payload: JwtClaims | string, key?: SigningKey): string {
  const input = signingInput(header, payload);
  const alg = String(header.alg ?? '');
  if (alg.toLowerCase() === 'none') return `${input}.`;
  const family = alg.slice(0, 2).toUpperCase();
  const hash = HASH[alg.slice(2)];
  if (hash === undefined) throw new Error(`forge: unsupported alg ${alg}`);
  if (key === undefined) throw new Error(`forge: alg ${alg} needs a key`);
  let sig: Buffer;
  switch (family) {
    case 'HS': {
      const secret = key instanceof KeyObject || (typeof key !== 'string' && !Buffer.isBuffer(key))
        ? toKeyObject(key).export() as Buffer
        : key;
      sig = createHmac(hash, secret).update(input).digest();
      break;
    }
    case 'RS':
      sig = cryptoSign(hash, Buffer.from(input), toKeyObject(key));
      break;
    case 'PS':
      sig = cryptoSign(hash, Buffer.from(input), {
        key: toKeyObject(key),
        padding: constants.RSA_PKCS1_PSS_PADDING,
        saltLength: Number(alg.slice(2)) / 8,
      });
      break;
    case 'ES':
      // JWS wants the raw r||s form, not DER (RFC 7518 §3.4).
      sig = cryptoSign(hash, Buffer.from(input), { key: toKeyObject(key), dsaEncoding: 'ieee-p1363' });
      break;
    default:
      throw new Error(`forge: unsupported alg ${alg}`);
  }
  return `${input}.${b64url(sig)}`;
}

/** `alg: none` (or a casing variant such as `nOnE`) with an empty or junk signature. */
export function forgeNone(claims: JwtClaims, opts: { alg?: string; signature?: string; header?: JwtHeader } = {}): string {
  const input = signingInput({ alg: opts.alg ?? 'none', typ: 'JWT', ...opts.header }, claims);
  return `${input}.${opts.signature ?? ''}`;
}

/** A well-formed header and payload with a signature that is random garbage of plausible length. */
export function forgeJunkSignature(claims: JwtClaims, header: JwtHeader = { alg: 'RS256' }): string {
  const junk = Buffer.alloc(256);
  for (let i = 0; i < junk.length; i++) junk[i] = (i * 131 + 7) & 0xff;
  return `${signingInput(header, claims)}.${b64url(junk)}`;
}

/**
 * The classic key-confusion attack: `alg: HS256` whose HMAC secret is the issuer's public
 * key as text (a PEM string, or the JWK serialised as JSON). A verifier that lets the token
 * choose the algorithm and feeds "the key" to HMAC would accept it.
 */
export function forgeHmacWithPublicKey(
  claims: JwtClaims,
  publicKey: string | JsonWebKey,
  opts: { kid?: string; alg?: 'HS256' | 'HS384' | 'HS512' } = {},
): string {
  const secret = typeof publicKey === 'string' ? publicKey : JSON.stringify(publicKey);
  const header: JwtHeader = { alg: opts.alg ?? 'HS256', typ: 'JWT' };
  if (opts.kid !== undefined) header.kid = opts.kid;
  return signJws(header, claims, Buffer.from(secret, 'utf8'));
}

/**
 * A token signed by the attacker's key that carries the attacker's public key in the
 * header (`jwk`), or points at it (`jku`, `x5u`): RFC 7515 lets a token name its own key,
 * and a verifier must ignore all three.
 */
export function forgeEmbeddedKey(
  claims: JwtClaims,
  attackerPrivateKey: KeyObject,
  opts: { kind: 'jwk' | 'jku' | 'x5u'; url?: string; kid?: string; alg?: string },
): string {
  const header: JwtHeader = { alg: opts.alg ?? 'RS256', typ: 'JWT' };
  if (opts.kid !== undefined) header.kid = opts.kid;
  if (opts.kind === 'jwk') {
    const pub = createPublicFrom(attackerPrivateKey).export({ format: 'jwk' });
    header.jwk = opts.kid === undefined ? pub : { ...pub, kid: opts.kid };
  } else {
    header[opts.kind] = opts.url ?? 'https://127.0.0.1:1/attacker-keys';
  }
  return signJws(header, claims, attackerPrivateKey);
}

function createPublicFrom(key: KeyObject): KeyObject {
  return key.type === 'private' ? createPublicKey(key) : key;
}

/** Split a compact JWS into its decoded header and payload (for assertions; does not verify). */
export function decodeJwt(token: string): { header: JwtHeader; payload: JwtClaims; signature: string } {
  const [h, p, s] = token.split('.');
  if (h === undefined || p === undefined || s === undefined) throw new Error('decodeJwt: not a compact JWS');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as JwtHeader,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as JwtClaims,
    signature: s,
  };
}

/** Replace the payload of a real token but keep its header and signature (signature no longer matches). */
export function tamperPayload(token: string, claims: JwtClaims): string {
  const [h, , s] = token.split('.');
  return `${h}.${b64url(JSON.stringify(claims))}.${s}`;
}

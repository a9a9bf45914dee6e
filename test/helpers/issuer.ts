/**
 * A Dex-shaped OpenID Connect issuer for tests: HTTPS on 127.0.0.1, discovery document,
 * JWKS at `/keys` with Dex's `Cache-Control: max-age=…, must-revalidate`, RS256 ID tokens
 * with Dex's claim set, key rotation, failure modes for the JWKS endpoint, and Dex's authorization-code
 * flow (`/auth` approves at once and redirects back, `/token` redeems with PKCE S256 and client_secret_basic).
 *
 * It signs with node:crypto (see forge.ts) so a test can control every header byte.
 */
import { generateKeyPair as generateKeyPairCb, randomBytes, createHash, createPublicKey, KeyObject } from 'node:crypto';
import type { JsonWebKey } from 'node:crypto';
import { createServer } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { promisify } from 'node:util';
import { getTestPki, issueServerCert } from './pki.js';
import type { TestPki } from './pki.js';
import { signJws } from './forge.js';
import type { JwtClaims, JwtHeader, SigningKey } from './forge.js';

const generateKeyPair = promisify(generateKeyPairCb);

export type JwksMode = 'ok' | 'fail' | 'stall' | 'redirect' | 'huge';
export type DiscoveryMode = 'ok' | 'fail';

export interface SignOptions {
  /** Header `kid`; default the current signing key's. */
  kid?: string;
  /** Header `alg`; default RS256. */
  alg?: string;
  /** Merged last into the header: `{ kid: undefined }` removes the kid, `{ typ: 'JWT' }` adds one. */
  header?: Record<string, unknown>;
  /** Sign with this key instead of the one named by `kid` (attacker keys, HMAC secrets). */
  privateKey?: SigningKey;
}

export interface TestIssuer {
  /** Exactly `https://127.0.0.1:<port>` (plus `issuerPath`) — no trailing slash, as in the tokens' `iss`. */
  readonly url: string;
  /** Where discovery is served: `<url>/.well-known/openid-configuration` unless `discoveryPath` moved it. */
  readonly discoveryUrl: string;
  readonly caPem: string;
  readonly caFile: string;
  readonly clientId: 'kubegate';
  /** Sign `claims` as given (nothing added) with header `{alg, kid, ...header}`. */
  sign(claims: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  /** A valid Dex-shaped ID token; an override set to `undefined` removes that claim. */
  token(overrides?: Record<string, unknown>, opts?: SignOptions): Promise<string>;
  /** The default claims `token()` would sign now (for building variants). */
  claims(overrides?: Record<string, unknown>): Record<string, unknown>;
  /** Generate a new RSA key, publish it, sign with it from now on; returns its kid. */
  rotate(): Promise<string>;
  /** Unpublish a key (it can still sign, which is how "removed key" tests forge). */
  removeKey(kid: string): void;
  readonly currentKid: string;
  /** SPKI PEM of a key (default current): the secret in the HS256 key-confusion attack. */
  publicKeyPem(kid?: string): string;
  /** The JWK exactly as published in `/keys`. */
  publicJwk(kid?: string): JsonWebKey;
  /** The private key for `kid` (default current). */
  privateKey(kid?: string): KeyObject;
  /** Number of requests to `/keys` (any mode). */
  readonly jwksFetches: number;
  /** Number of requests to `/.well-known/openid-configuration`. */
  readonly discoveryFetches: number;
  /** Requests that followed the `redirect` mode's Location (a client must never follow it). */
  readonly redirectFetches: number;
  /** Every request path seen, in order (e.g. to prove a `jku` URL on this host was never fetched). */
  readonly paths: readonly string[];
  /** ok | fail (500) | stall (never answers until close) | redirect (302 elsewhere) | huge (> 1 MiB valid JSON). */
  setJwksMode(mode: JwksMode): void;
  setDiscoveryMode(mode: DiscoveryMode): void;
  /** Claims of the ID tokens `/token` issues (merged over `claims()`, plus the login's nonce). */
  setLoginClaims(overrides: Record<string, unknown>): void;
  /** Number of codes redeemed at `/token`. */
  readonly tokenRedemptions: number;
  resetCounters(): void;
  close(): Promise<void>;
}

export interface TestIssuerOptions {
  pki?: TestPki;
  keyAlg?: 'RS256';
  /** Seconds in the `/keys` Cache-Control max-age (Dex default is derived from rotation; 600 here). */
  maxAge?: number;
  /** Path of the issuer URL (`/tenant-b` gives `https://127.0.0.1:<port>/tenant-b`); keys live under it. */
  issuerPath?: string;
  /**
   * Serve discovery only at this path (an AuthenticationConfiguration `discoveryURL`), not at
   * `<url>/.well-known/openid-configuration`, which then answers 404.
   */
  discoveryPath?: string;
  /** Client secret `/token` requires (HTTP Basic, client id `kubegate`); any secret when absent. */
  clientSecret?: string;
}

interface PendingCode {
  redirectUri: string;
  nonce: string | undefined;
  challenge: string | undefined;
}

interface KeyEntry {
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
  jwk: JsonWebKey;
  published: boolean;
}

/** Dex subjects are base64 of a protobuf holding the connector's user id and the connector id. */
const DEX_SUB = 'CiQwOGE4Njg0Yi1kYjg4LTRiNzMtOTBhOS0zY2QxNjYxZjU0NjYSBWxvY2Fs';

async function newKey(): Promise<KeyEntry> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  // Dex's kids are random hex; random is what makes "unknown kid" distinguishable from "stale cache".
  const kid = randomBytes(20).toString('hex');
  const jwk: JsonWebKey = { use: 'sig', ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256' };
  return { kid, privateKey, publicKey, jwk, published: true };
}

/** Start an issuer on a random loopback port. Always `close()` it (it holds sockets open in stall mode). */
export async function startTestIssuer(opts: TestIssuerOptions = {}): Promise<TestIssuer> {
  const pki = opts.pki ?? await getTestPki();
  const maxAge = opts.maxAge ?? 600;
  const cert = await issueServerCert(pki, 'issuer');
  const keys = new Map<string, KeyEntry>();
  const first = await newKey();
  keys.set(first.kid, first);
  let currentKid = first.kid;
  let jwksMode: JwksMode = 'ok';
  let discoveryMode: DiscoveryMode = 'ok';
  let jwksFetches = 0;
  let discoveryFetches = 0;
  let redirectFetches = 0;
  const paths: string[] = [];
  const codes = new Map<string, PendingCode>();
  let loginClaims: Record<string, unknown> = {};
  let tokenRedemptions = 0;
  const stalled = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let url = '';

  const jwksBody = (): string => JSON.stringify({
    keys: [...keys.values()].filter((k) => k.published).map((k) => k.jwk),
  });

  const discovery = (): string => JSON.stringify({
    issuer: url,
    authorization_endpoint: `${url}/auth`,
    token_endpoint: `${url}/token`,
    jwks_uri: `${url}/keys`,
    userinfo_endpoint: `${url}/userinfo`,
    device_authorization_endpoint: `${url}/device/code`,
    grant_types_supported: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code'],
    response_types_supported: ['code'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    code_challenge_methods_supported: ['S256', 'plain'],
    scopes_supported: ['openid', 'email', 'groups', 'profile', 'offline_access'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    claims_supported: ['iss', 'sub', 'aud', 'iat', 'exp', 'email', 'email_verified', 'locale', 'name',
      'preferred_username', 'at_hash'],
  });

  const sendJson = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void => {
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };

  const prefix = opts.issuerPath ?? '';
  const discoveryPath = opts.discoveryPath ?? `${prefix}/.well-known/openid-configuration`;
  const routes = new Map([[discoveryPath, '/.well-known/openid-configuration'],
    ...['/keys', '/keys-elsewhere', '/auth', '/token'].map((p): [string, string] => [`${prefix}${p}`, p])]);

  /** Dex with one approved user: straight back to the client with a code (and the state it sent). */
  const authorize = (req: IncomingMessage, res: ServerResponse): void => {
    const q = new URL(req.url ?? '/', 'https://issuer.invalid').searchParams;
    const redirectUri = q.get('redirect_uri');
    if (q.get('client_id') !== 'kubegate' || redirectUri === null || q.get('response_type') !== 'code') {
      sendJson(res, 400, '{"error":"invalid_request"}');
      return;
    }
    const code = randomBytes(16).toString('hex');
    codes.set(code, { redirectUri, nonce: q.get('nonce') ?? undefined, challenge: q.get('code_challenge') ?? undefined });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    const state = q.get('state');
    if (state !== null) back.searchParams.set('state', state);
    res.writeHead(302, { Location: back.href, 'Content-Length': 0 });
    res.end();
  };

  /** The token endpoint: one use per code, PKCE S256, client_secret_basic; an ID token signed with the current key. */
  const redeem = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      const code = form.get('code') ?? '';
      const pending = codes.get(code);
      codes.delete(code);
      const basic = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
      const [id, secret] = Buffer.from(basic ?? '', 'base64').toString('utf8').split(':').map((x) => decodeURIComponent(x));
      const verifier = form.get('code_verifier') ?? '';
      const challengeOk = pending?.challenge === undefined ||
        createHash('sha256').update(verifier, 'ascii').digest('base64url') === pending.challenge;
      if (id !== 'kubegate' || (opts.clientSecret !== undefined && secret !== opts.clientSecret)) {
        sendJson(res, 401, '{"error":"invalid_client"}');
        return;
      }
      if (form.get('grant_type') !== 'authorization_code' || pending === undefined ||
        form.get('redirect_uri') !== pending.redirectUri || !challengeOk) {
        sendJson(res, 400, '{"error":"invalid_grant"}');
        return;
      }
      tokenRedemptions += 1;
      sign(claims({ ...loginClaims, nonce: pending.nonce })).then((idToken) => {
        sendJson(res, 200, JSON.stringify({ access_token: randomBytes(16).toString('hex'), token_type: 'bearer', expires_in: 3600, id_token: idToken }),
          { 'Cache-Control': 'no-store' });
      }, () => sendJson(res, 500, '{"error":"server_error"}'));
    });
  };

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = routes.get((req.url ?? '/').split('?')[0] ?? '/') ?? '(unknown)';
    paths.push(req.url ?? '');
    if (path === '/token' && req.method === 'POST') {
      redeem(req, res);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, '{"error":"method not allowed"}');
      return;
    }
    switch (path) {
      case '/.well-known/openid-configuration':
        discoveryFetches += 1;
        if (discoveryMode === 'fail') sendJson(res, 500, '{"error":"server_error"}');
        else sendJson(res, 200, discovery());
        return;
      case '/keys':
        jwksFetches += 1;
        switch (jwksMode) {
          case 'ok':
            sendJson(res, 200, jwksBody(), { 'Cache-Control': `max-age=${maxAge}, must-revalidate` });
            return;
          case 'fail':
            sendJson(res, 500, '{"error":"server_error"}');
            return;
          case 'stall':
            // Headers are not even sent: the client sees a connection that never answers.
            stalled.add(res);
            res.on('close', () => stalled.delete(res));
            return;
          case 'redirect':
            // Points at a path that *would* serve the real keys, so a client that follows
            // redirects is caught by redirectFetches, not just by failing.
            res.writeHead(302, { Location: `${url}/keys-elsewhere`, 'Content-Length': 0 });
            res.end();
            return;
          case 'huge': {
            // Valid JSON holding the real keys: a client without a size cap would succeed.
            const body = JSON.stringify({
              keys: JSON.parse(jwksBody()).keys as unknown[],
              padding: 'x'.repeat(1536 * 1024),
            });
            sendJson(res, 200, body, { 'Cache-Control': `max-age=${maxAge}, must-revalidate` });
            return;
          }
        }
        return;
      case '/auth':
        authorize(req, res);
        return;
      case '/keys-elsewhere':
        redirectFetches += 1;
        sendJson(res, 200, jwksBody());
        return;
      default:
        sendJson(res, 404, '{"error":"not found"}');
    }
  };

  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, handler);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('issuer: no address');
  url = `https://127.0.0.1:${address.port}${prefix}`;

  const entry = (kid?: string): KeyEntry => {
    const k = keys.get(kid ?? currentKid);
    if (k === undefined) throw new Error(`issuer: unknown kid ${kid ?? currentKid}`);
    return k;
  };

  const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => {
    const now = Math.floor(Date.now() / 1000);
    const out: Record<string, unknown> = {
      iss: url,
      sub: DEX_SUB,
      aud: 'kubegate',
      exp: now + 3600,
      iat: now,
      email: 'alice@example.com',
      email_verified: true,
      groups: ['dev'],
      name: 'Alice',
    };
    for (const [k, v] of Object.entries(overrides)) {
      if (v === undefined) delete out[k];
      else out[k] = v;
    }
    return out;
  };

  const sign = async (payload: Record<string, unknown>, o: SignOptions = {}): Promise<string> => {
    const kid = o.kid ?? currentKid;
    const header: JwtHeader = { alg: o.alg ?? 'RS256', kid, ...o.header };
    // Drop keys explicitly set to undefined so `{kid: undefined}` really removes the kid.
    for (const k of Object.keys(header)) if (header[k] === undefined) delete header[k];
    // An unknown kid still gets a real signature (by the current key): that is the
    // "unknown kid" case, where only the kid lookup — not the signature — should fail.
    const key: SigningKey = o.privateKey ?? entry(keys.has(kid) ? kid : currentKid).privateKey;
    return signJws(header, payload as JwtClaims, key);
  };

  return {
    get url() { return url; },
    get discoveryUrl() { return `https://127.0.0.1:${address.port}${discoveryPath}`; },
    caPem: pki.caPem,
    caFile: pki.caFile,
    clientId: 'kubegate',
    sign,
    token: (overrides, o) => sign(claims(overrides), o),
    claims,
    async rotate() {
      const k = await newKey();
      keys.set(k.kid, k);
      currentKid = k.kid;
      return k.kid;
    },
    removeKey(kid) {
      entry(kid).published = false;
    },
    get currentKid() { return currentKid; },
    publicKeyPem: (kid) => entry(kid).publicKey.export({ type: 'spki', format: 'pem' }).toString(),
    publicJwk: (kid) => ({ ...entry(kid).jwk }),
    privateKey: (kid) => entry(kid).privateKey,
    get jwksFetches() { return jwksFetches; },
    get discoveryFetches() { return discoveryFetches; },
    get redirectFetches() { return redirectFetches; },
    get paths() { return paths; },
    setJwksMode(mode) { jwksMode = mode; },
    setDiscoveryMode(mode) { discoveryMode = mode; },
    setLoginClaims(overrides) { loginClaims = { ...overrides }; },
    get tokenRedemptions() { return tokenRedemptions; },
    resetCounters() {
      jwksFetches = 0;
      discoveryFetches = 0;
      redirectFetches = 0;
      paths.length = 0;
    },
    async close() {
      for (const res of stalled) res.destroy();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** An RSA key pair the issuer never published: the attacker's key in forgery tests. */
export async function generateAttackerKey(): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  const { privateKey } = await generateKeyPair('rsa', { modulusLength: 2048 });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

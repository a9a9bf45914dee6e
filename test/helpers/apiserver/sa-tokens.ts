/**
 * ServiceAccount tokens as the apiserver issues them (`kubectl create token`, TokenRequest): RS256 JWTs
 * with iss https://kubernetes.default.svc.cluster.local, sub system:serviceaccount:<ns>:<name>, aud, exp,
 * and the `kubernetes.io` claim. The double accepts them for requests (as the apiserver's service-account
 * authenticator does) and reviews them (TokenReview). Revoking one (or deleting its service account)
 * makes both refuse it, as deleting the bound Secret or ServiceAccount does.
 */
import { createSign, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import type { Identity } from './rbac.js';

export const SA_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** The apiserver's default API audiences (--api-audiences defaults to the issuer). */
export const API_AUDIENCES: readonly string[] = [SA_ISSUER];

export interface IssueOptions {
  audiences?: string[];
  /** Lifetime in seconds (default 3600); negative issues an already expired token. */
  expirationSeconds?: number;
}

export type TokenCheck =
  | { ok: true; identity: Identity; audiences: string[] }
  | { ok: false; error: string };

interface Issued { namespace: string; name: string; uid: string; audiences: string[]; exp: number }

function b64(obj: unknown): string {
  return Buffer.from(JSON.stringify(obj)).toString('base64url');
}

export class ServiceAccountTokens {
  readonly #key: KeyObject;
  readonly #kid = randomUUID();
  readonly #issued = new Map<string, Issued>();
  readonly #revoked = new Set<string>();
  readonly #deleted = new Set<string>();
  readonly #uids = new Map<string, string>();

  constructor() {
    this.#key = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  }

  /** A token for system:serviceaccount:<namespace>:<name>, signed by the double's key. */
  issue(namespace: string, name: string, opts: IssueOptions = {}): string {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + (opts.expirationSeconds ?? 3600);
    const audiences = opts.audiences ?? [...API_AUDIENCES];
    const saKey = `${namespace}/${name}`;
    let uid = this.#uids.get(saKey);
    if (uid === undefined) {
      uid = randomUUID();
      this.#uids.set(saKey, uid);
    }
    this.#deleted.delete(saKey);
    const header = { alg: 'RS256', kid: this.#kid };
    const claims = {
      aud: audiences, exp, iat: now, iss: SA_ISSUER, jti: randomUUID(), nbf: now,
      sub: `system:serviceaccount:${namespace}:${name}`,
      'kubernetes.io': { namespace, serviceaccount: { name, uid } },
    };
    const input = `${b64(header)}.${b64(claims)}`;
    const sig = createSign('RSA-SHA256').update(input).sign(this.#key).toString('base64url');
    const token = `${input}.${sig}`;
    this.#issued.set(token, { namespace, name, uid, audiences, exp });
    return token;
  }

  revoke(token: string): void {
    this.#revoked.add(token);
  }

  /** Every token of this service account stops working (until a new token is issued for it). */
  deleteServiceAccount(namespace: string, name: string): void {
    this.#deleted.add(`${namespace}/${name}`);
    this.#uids.delete(`${namespace}/${name}`);
  }

  /**
   * The service-account authenticator: the token is one the double issued, not revoked, not expired, its
   * account exists, and it is for one of `audiences` (the apiserver's API audiences by default).
   */
  check(token: string, audiences: readonly string[] = API_AUDIENCES): TokenCheck {
    const t = this.#issued.get(token);
    if (t === undefined) return { ok: false, error: 'invalid bearer token' };
    if (this.#revoked.has(token) || this.#deleted.has(`${t.namespace}/${t.name}`)) {
      return { ok: false, error: 'invalid bearer token, service account token has been invalidated' };
    }
    if (t.exp <= Math.floor(Date.now() / 1000)) return { ok: false, error: 'invalid bearer token, Token has expired.' };
    const matched = t.audiences.filter((a) => audiences.includes(a));
    if (matched.length === 0) return { ok: false, error: 'invalid bearer token, token audiences is invalid' };
    const identity: Identity = {
      user: `system:serviceaccount:${t.namespace}:${t.name}`,
      groups: ['system:serviceaccounts', `system:serviceaccounts:${t.namespace}`, 'system:authenticated'],
      uid: t.uid,
      extra: { 'authentication.kubernetes.io/credential-id': [`JTI=${token.slice(-8)}`] },
    };
    return { ok: true, identity, audiences: matched };
  }
}

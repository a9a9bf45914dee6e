import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLocalJWKSet, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { startTestIssuer, generateAttackerKey } from '../../helpers/issuer.js';
import { decodeJwt } from '../../helpers/forge.js';
import { httpsRequest } from '../../helpers/https-get.js';

async function fetchJwks(url: string, ca: string): Promise<JSONWebKeySet> {
  const res = await httpsRequest(`${url}/keys`, { ca });
  assert.equal(res.status, 200);
  return res.json<JSONWebKeySet>();
}

test('discovery and /keys look like Dex; default token verifies with jose', async (t) => {
  const issuer = await startTestIssuer({ maxAge: 120 });
  t.after(() => issuer.close());
  assert.match(issuer.url, /^https:\/\/127\.0\.0\.1:\d+$/);

  const disc = await httpsRequest(`${issuer.url}/.well-known/openid-configuration`, { ca: issuer.caPem });
  const doc = disc.json<Record<string, unknown>>();
  assert.equal(doc.issuer, issuer.url);
  assert.equal(doc.jwks_uri, `${issuer.url}/keys`);
  assert.deepEqual(doc.id_token_signing_alg_values_supported, ['RS256']);
  assert.equal(issuer.discoveryFetches, 1);

  const keysRes = await httpsRequest(`${issuer.url}/keys`, { ca: issuer.caPem });
  assert.equal(keysRes.headers['cache-control'], 'max-age=120, must-revalidate');
  const jwks = keysRes.json<JSONWebKeySet>();
  assert.equal(jwks.keys.length, 1);
  assert.deepEqual(jwks.keys[0], issuer.publicJwk());
  assert.equal(jwks.keys[0]?.kid, issuer.currentKid);
  assert.equal(issuer.jwksFetches, 1);

  const token = await issuer.token();
  const { header, payload } = decodeJwt(token);
  assert.deepEqual(header, { alg: 'RS256', kid: issuer.currentKid });
  const verified = await jwtVerify(token, createLocalJWKSet(jwks), {
    issuer: issuer.url, audience: 'kubegate', algorithms: ['RS256'],
  });
  assert.equal(verified.payload.email, 'alice@example.com');
  assert.equal(verified.payload.email_verified, true);
  assert.deepEqual(verified.payload.groups, ['dev']);
  assert.equal(payload.exp, (payload.iat as number) + 3600);
});

test('token overrides: replace and remove claims; sign() adds nothing', async (t) => {
  const issuer = await startTestIssuer();
  t.after(() => issuer.close());
  const { payload } = decodeJwt(await issuer.token({ email: 'bob@example.com', groups: undefined, exp: undefined }));
  assert.equal(payload.email, 'bob@example.com');
  assert.equal('groups' in payload, false);
  assert.equal('exp' in payload, false);
  const raw = decodeJwt(await issuer.sign({ a: 1 }, { header: { kid: undefined, typ: 'JWT' } }));
  assert.deepEqual(raw.payload, { a: 1 });
  assert.deepEqual(raw.header, { alg: 'RS256', typ: 'JWT' });
});

test('rotate publishes a second key; removeKey unpublishes; attacker key fails verification', async (t) => {
  const issuer = await startTestIssuer();
  t.after(() => issuer.close());
  const oldKid = issuer.currentKid;
  const newKid = await issuer.rotate();
  assert.notEqual(newKid, oldKid);
  assert.equal(issuer.currentKid, newKid);
  let jwks = await fetchJwks(issuer.url, issuer.caPem);
  assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
  const tokNew = await issuer.token();
  assert.equal(decodeJwt(tokNew).header.kid, newKid);
  await jwtVerify(tokNew, createLocalJWKSet(jwks), { issuer: issuer.url, audience: 'kubegate' });

  issuer.removeKey(oldKid);
  jwks = await fetchJwks(issuer.url, issuer.caPem);
  assert.deepEqual(jwks.keys.map((k) => k.kid), [newKid]);
  const tokOld = await issuer.token({}, { kid: oldKid });
  await assert.rejects(jwtVerify(tokOld, createLocalJWKSet(jwks)), /no applicable key found/);

  const attacker = await generateAttackerKey();
  const forged = await issuer.token({}, { privateKey: attacker.privateKey }); // real kid, wrong key
  assert.equal(decodeJwt(forged).header.kid, newKid);
  await assert.rejects(jwtVerify(forged, createLocalJWKSet(jwks)), /signature verification failed/);
  assert.match(issuer.publicKeyPem(), /^-----BEGIN PUBLIC KEY-----/);
});

test('JWKS modes: fail, redirect, huge, stall; discovery fail', async (t) => {
  const issuer = await startTestIssuer();
  t.after(() => issuer.close());
  const ca = issuer.caPem;

  issuer.setJwksMode('fail');
  assert.equal((await httpsRequest(`${issuer.url}/keys`, { ca })).status, 500);

  issuer.setJwksMode('redirect');
  const redirect = await httpsRequest(`${issuer.url}/keys`, { ca });
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.location, `${issuer.url}/keys-elsewhere`);
  assert.equal(issuer.redirectFetches, 0);

  issuer.setJwksMode('huge');
  const huge = await httpsRequest(`${issuer.url}/keys`, { ca });
  assert.ok(huge.body.length > 1024 * 1024);
  assert.equal(huge.json<JSONWebKeySet>().keys[0]?.kid, issuer.currentKid);

  issuer.setJwksMode('stall');
  await assert.rejects(httpsRequest(`${issuer.url}/keys`, { ca, timeoutMs: 300 }), /timeout/);
  assert.equal(issuer.jwksFetches, 4);

  issuer.setDiscoveryMode('fail');
  assert.equal((await httpsRequest(`${issuer.url}/.well-known/openid-configuration`, { ca })).status, 500);

  // A stalled request must not keep close() from finishing.
  issuer.setJwksMode('stall');
  const pending = httpsRequest(`${issuer.url}/keys`, { ca, timeoutMs: 5000 }).catch((e: Error) => e);
  await new Promise((r) => setTimeout(r, 50));
  const started = Date.now();
  await issuer.close();
  assert.ok(Date.now() - started < 1000);
  assert.ok((await pending) instanceof Error);
});

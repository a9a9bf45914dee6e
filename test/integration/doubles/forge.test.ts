import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { createLocalJWKSet, jwtVerify } from 'jose';
import {
  decodeJwt, forgeEmbeddedKey, forgeHmacWithPublicKey, forgeJunkSignature, forgeNone, signJws, signingInput,
} from '../../helpers/forge.js';

const claims = { iss: 'https://127.0.0.1:1', aud: 'kubegate', email: 'mallory@example.com' };

test('alg none: empty and junk signature, any casing', () => {
  const t1 = forgeNone(claims);
  assert.ok(t1.endsWith('.'));
  assert.equal(decodeJwt(t1).header.alg, 'none');
  const t2 = forgeNone(claims, { alg: 'nOnE', signature: 'junk' });
  assert.equal(decodeJwt(t2).header.alg, 'nOnE');
  assert.equal(t2.split('.')[2], 'junk');
  assert.equal(forgeJunkSignature(claims).split('.')[2]?.length, 342);
});

test('HS256 keyed with the public key text (PEM and JWK JSON)', () => {
  const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const jwk = publicKey.export({ format: 'jwk' });
  for (const [secret, text] of [[pem, pem], [jwk, JSON.stringify(jwk)]] as const) {
    const tok = forgeHmacWithPublicKey(claims, secret, { kid: 'k1' });
    const { header } = decodeJwt(tok);
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', kid: 'k1' });
    const [h, p, s] = tok.split('.');
    const expected = createHmac('sha256', text).update(`${h}.${p}`).digest('base64url');
    assert.equal(s, expected);
  }
});

test('RS/PS/ES signatures are real and verify with node:crypto; jose accepts RS256', async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rs = signJws({ alg: 'RS256', kid: 'a' }, claims, rsa.privateKey);
  const jwk = { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'a', alg: 'RS256' };
  const ok = await jwtVerify(rs, createLocalJWKSet({ keys: [jwk] }));
  assert.equal(ok.payload.email, 'mallory@example.com');

  const ps = signJws({ alg: 'PS256' }, claims, rsa.privateKey);
  const [ph, pp, psig] = ps.split('.');
  assert.equal(verify('sha256', Buffer.from(`${ph}.${pp}`), {
    key: rsa.publicKey, padding: 6, saltLength: 32,
  }, Buffer.from(psig ?? '', 'base64url')), true);

  const es = signJws({ alg: 'ES256' }, claims, ec.privateKey);
  const [eh, ep, esig] = es.split('.');
  assert.equal(Buffer.from(esig ?? '', 'base64url').length, 64);
  assert.equal(verify('sha256', Buffer.from(`${eh}.${ep}`), { key: ec.publicKey, dsaEncoding: 'ieee-p1363' },
    Buffer.from(esig ?? '', 'base64url')), true);
  assert.throws(() => signJws({ alg: 'XX1' }, claims, rsa.privateKey), /unsupported alg/);
});

test('embedded jwk / jku / x5u headers', () => {
  const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const withJwk = decodeJwt(forgeEmbeddedKey(claims, attacker.privateKey, { kind: 'jwk', kid: 'x' }));
  assert.equal(withJwk.header.kid, 'x');
  assert.deepEqual((withJwk.header.jwk as { n: string }).n, createPublicKey(attacker.privateKey).export({ format: 'jwk' }).n);
  assert.equal('d' in (withJwk.header.jwk as object), false, 'never embed the private part');
  const jku = decodeJwt(forgeEmbeddedKey(claims, attacker.privateKey, { kind: 'jku', url: 'https://127.0.0.1:9/k' }));
  assert.equal(jku.header.jku, 'https://127.0.0.1:9/k');
  const x5u = decodeJwt(forgeEmbeddedKey(claims, attacker.privateKey, { kind: 'x5u' }));
  assert.equal(typeof x5u.header.x5u, 'string');
  assert.equal(signingInput({ a: 1 }, 'raw'), `${Buffer.from('{"a":1}').toString('base64url')}.${Buffer.from('raw').toString('base64url')}`);
});

import { ManualClock } from '@flotilla/core';
import { base64url, exportSPKI, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type JwksServer,
  makeKey,
  signToken,
  startJwksServer,
  type TestKey,
} from './fixtures/jwks-server.js';
import { JwksCaches } from './jwks.js';
import { bearerToken, JwtVerifier } from './jwt.js';

const NOW = 1_800_000_000; // seconds
const ISS = 'https://issuer.test';
const AUD = 'flotilla';
const claims = (extra: Record<string, unknown> = {}) => ({
  iss: ISS,
  aud: AUD,
  sub: 'alice',
  iat: NOW,
  exp: NOW + 600,
  scope: 'play:read play:write',
  ...extra,
});
const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

let server: JwksServer;
let rsa: TestKey;
let ec: TestKey;
let ed: TestKey;
beforeAll(async () => {
  [rsa, ec, ed] = await Promise.all([
    makeKey('RS256', 'rsa-1'),
    makeKey('ES256', 'ec-1'),
    makeKey('EdDSA', 'ed-1'),
  ]);
  server = await startJwksServer([rsa.jwk, ec.jwk, ed.jwk]);
});
afterAll(() => server.close());

function verifier(extra: Record<string, unknown> = {}, clock = new ManualClock(NOW * 1000)) {
  return new JwtVerifier({ issuer: ISS, audience: AUD, jwksUrl: server.url, ...extra }, { clock });
}

describe('JwtVerifier with a JWKS URL', () => {
  it('accepts RS256, ES256 and EdDSA tokens signed by keys the issuer publishes', async () => {
    const v = verifier();
    for (const key of [rsa, ec, ed]) {
      const outcome = await v.authenticate(bearer(await signToken(key, claims())));
      expect(outcome).toMatchObject({ ok: true, method: 'jwt', claims: { sub: 'alice', iss: ISS } });
    }
  });

  it('answers 401 without an error attribute when no token is sent (RFC 6750 §3.1)', async () => {
    const outcome = await verifier().authenticate({ headers: {} });
    expect(outcome).toMatchObject({
      ok: false,
      status: 401,
      wwwAuthenticate: 'Bearer realm="flotilla"',
      problem: { status: 401, code: 'UNAUTHENTICATED' },
    });
  });

  it('rejects an expired token with 401 invalid_token, but tolerates the clock skew', async () => {
    const clock = new ManualClock((NOW + 600) * 1000);
    const v = verifier({ clockSkew: '30s' }, clock);
    const token = await signToken(rsa, claims());
    clock.advance(29_000);
    expect((await v.verify(token)).ok).toBe(true);
    clock.advance(2_000);
    const outcome = await v.verify(token);
    expect(outcome).toMatchObject({
      ok: false,
      status: 401,
      headers: { 'www-authenticate': expect.any(String) },
    });
    expect(outcome.ok || outcome.wwwAuthenticate).toBe(
      'Bearer realm="flotilla", error="invalid_token", error_description="The token has expired"',
    );
  });

  it('rejects a token that is not valid yet, beyond the clock skew', async () => {
    const v = verifier({ clockSkew: '10s' });
    expect((await v.verify(await signToken(rsa, claims({ nbf: NOW + 5 })))).ok).toBe(true);
    const outcome = await v.verify(await signToken(rsa, claims({ nbf: NOW + 60 })));
    expect(outcome).toMatchObject({
      ok: false,
      status: 401,
      problem: { detail: 'The token is not valid yet' },
    });
  });

  it('rejects a token from another issuer, for another audience, or without an expiry', async () => {
    const v = verifier();
    const cases = [
      [claims({ iss: 'https://evil.test' }), 'The token\'s "iss" claim is not accepted'],
      [claims({ aud: 'other' }), 'The token\'s "aud" claim is not accepted'],
      [claims({ exp: undefined }), 'The token has no "exp" claim'],
    ] as const;
    for (const [init, detail] of cases) {
      expect(await v.verify(await signToken(rsa, init))).toMatchObject({ status: 401, problem: { detail } });
    }
  });

  it('rejects an unsigned token (alg: none)', async () => {
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    const payload = base64url.encode(JSON.stringify(claims()));
    const outcome = await verifier().verify(`${header}.${payload}.`);
    expect(outcome).toMatchObject({ ok: false, status: 401 });
  });

  it('rejects an HS256 token signed with the RSA public key as the secret (algorithm confusion)', async () => {
    const pem = new TextEncoder().encode(await exportSPKI(rsa.publicKey));
    const forged = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(pem);
    const outcome = await verifier().verify(forged);
    expect(outcome).toMatchObject({
      ok: false,
      status: 401,
      problem: { detail: 'The token algorithm is not accepted' },
    });
  });

  it('rejects a token signed by a key that merely claims a published kid', async () => {
    const impostor = await makeKey('RS256', rsa.kid);
    const outcome = await verifier().verify(await signToken(impostor, claims()));
    expect(outcome).toMatchObject({ status: 401, problem: { detail: 'The token signature is invalid' } });
  });

  it('answers 403 insufficient_scope naming the required scopes when one is missing', async () => {
    const v = verifier({ scopes: ['play:read', 'admin'] });
    const outcome = await v.verify(await signToken(ec, claims()));
    expect(outcome).toMatchObject({ ok: false, status: 403, problem: { code: 'INSUFFICIENT_SCOPE' } });
    expect(outcome.ok || outcome.wwwAuthenticate).toBe(
      'Bearer realm="flotilla", error="insufficient_scope", error_description="The token lacks the scope admin", scope="play:read admin"',
    );
  });

  it('reads scopes from an scp array as well as from the scope string', async () => {
    const v = verifier({ scopes: ['admin'] });
    const token = await signToken(ec, claims({ scope: undefined, scp: ['admin', 'other'] }));
    expect((await v.verify(token)).ok).toBe(true);
  });

  it('requires configured claim values, one of a list, or one element of an array claim', async () => {
    const v = verifier({ claims: { tenant: ['acme', 'globex'], groups: 'ops' } });
    expect((await v.verify(await signToken(ed, claims({ tenant: 'acme', groups: ['dev', 'ops'] })))).ok).toBe(
      true,
    );
    const outcome = await v.verify(await signToken(ed, claims({ tenant: 'initech', groups: ['ops'] })));
    expect(outcome).toMatchObject({
      status: 403,
      problem: { detail: 'The token\'s "tenant" claim does not grant access' },
    });
  });
});

describe('JwtVerifier with a shared secret', () => {
  const secret = 'a-shared-secret-of-at-least-32-bytes!';
  const hsVerifier = () =>
    new JwtVerifier({ issuer: ISS, audience: AUD, secret }, { clock: new ManualClock(NOW * 1000) });

  it('accepts an HS256 token signed with the secret and rejects one signed with another', async () => {
    const sign = (key: string) =>
      new SignJWT(claims()).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(key));
    expect((await hsVerifier().verify(await sign(secret))).ok).toBe(true);
    expect(await hsVerifier().verify(await sign('another-secret-of-at-least-32-bytes'))).toMatchObject({
      status: 401,
      problem: { detail: 'The token signature is invalid' },
    });
  });

  it('rejects an RS256 token, whatever its signature', async () => {
    const outcome = await hsVerifier().verify(await signToken(rsa, claims()));
    expect(outcome).toMatchObject({
      status: 401,
      problem: { detail: 'The token algorithm is not accepted' },
    });
  });
});

describe('JwtVerifier configuration', () => {
  it('fails at construction naming the field and the value', () => {
    const base = { issuer: ISS, audience: AUD };
    expect(() => new JwtVerifier({ ...base })).toThrow(
      'jwt.jwksUrl/jwt.secret should be exactly one of the two',
    );
    expect(() => new JwtVerifier({ ...base, secret: 'short' })).toThrow(
      'jwt.secret should be at least 32 bytes, got "5 bytes"',
    );
    expect(() => new JwtVerifier({ ...base, jwksUrl: 'http://x/jwks', algorithms: ['HS256'] })).toThrow(
      /^jwt.algorithms should be algorithms of a JWKS key .*, got "HS256"$/,
    );
    expect(() => new JwtVerifier({ ...base, jwksUrl: 'http://x/jwks', clockSkew: 'soon' })).toThrow(
      'jwt.clockSkew should be a duration',
    );
    expect(() => new JwtVerifier({ ...base, issuer: 42 } as never)).toThrow(
      'jwt.issuer expected string, got 42',
    );
  });
});

describe('bearerToken', () => {
  it('reads the token of an Authorization: Bearer header, whatever the scheme case', () => {
    expect(bearerToken({ headers: { authorization: 'bearer abc.def.ghi' } })).toBe('abc.def.ghi');
    expect(bearerToken({ headers: { authorization: 'Basic dXNlcjpwYXNz' } })).toBeUndefined();
    expect(bearerToken({ headers: { authorization: 'Bearer a b' } })).toBeUndefined();
  });
});

describe('JwksCache', () => {
  it('fetches the keys once and serves later tokens from the cache', async () => {
    const jwks = new JwksCaches();
    const clock = new ManualClock(NOW * 1000);
    const before = server.requests;
    const a = new JwtVerifier({ issuer: ISS, audience: AUD, jwksUrl: server.url }, { jwks, clock });
    const b = new JwtVerifier({ issuer: ISS, audience: 'other', jwksUrl: server.url }, { jwks, clock });
    for (let i = 0; i < 3; i++) expect((await a.verify(await signToken(rsa, claims()))).ok).toBe(true);
    expect((await b.verify(await signToken(rsa, claims({ aud: 'other' })))).ok).toBe(true);
    expect(server.requests - before).toBe(1);
    expect(jwks.all()[0]!.stats()).toEqual({ fetches: 1, failures: 0, keys: 3 });
  });

  it('refetches on an unknown kid at most once per cooldown, then picks up the rotated key', async () => {
    const rotated = await makeKey('ES256', 'ec-2');
    const own = await startJwksServer([ec.jwk]);
    try {
      const clock = new ManualClock(NOW * 1000);
      const v = new JwtVerifier(
        { issuer: ISS, audience: AUD, jwksUrl: own.url, jwksCooldown: '30s' },
        { clock },
      );
      expect((await v.verify(await signToken(ec, claims()))).ok).toBe(true);
      expect(own.requests).toBe(1);
      // Unknown kids within the cooldown: one refetch only, however many tokens arrive.
      const unknown = await signToken(rotated, claims());
      clock.advance(31_000);
      for (let i = 0; i < 5; i++) {
        expect(await v.verify(unknown)).toMatchObject({
          status: 401,
          problem: { detail: 'No key of the issuer matches the token' },
        });
      }
      expect(own.requests).toBe(2);
      // The issuer rotates the key in; the next refetch is allowed once the cooldown has passed.
      own.keys = [ec.jwk, rotated.jwk];
      clock.advance(29_000);
      expect((await v.verify(unknown)).ok).toBe(false);
      expect(own.requests).toBe(2);
      clock.advance(1_000);
      expect((await v.verify(unknown)).ok).toBe(true);
      expect(own.requests).toBe(3);
    } finally {
      await own.close();
    }
  });

  it('refreshes aged keys in the background and keeps the last good ones while the JWKS endpoint fails', async () => {
    const own = await startJwksServer([rsa.jwk]);
    try {
      const clock = new ManualClock(NOW * 1000);
      const v = new JwtVerifier(
        { issuer: ISS, audience: AUD, jwksUrl: own.url, jwksMaxAge: '1m' },
        { clock },
      );
      expect((await v.verify(await signToken(rsa, claims()))).ok).toBe(true);
      own.failing = true;
      clock.advance(120_000);
      expect((await v.verify(await signToken(rsa, claims()))).ok).toBe(true);
      await vi.waitFor(() => expect(own.requests).toBe(2));
      expect((await v.verify(await signToken(rsa, claims()))).ok).toBe(true);
    } finally {
      await own.close();
    }
  });

  it('answers 503 when the keys were never fetched, so clients keep their token', async () => {
    const own = await startJwksServer([rsa.jwk]);
    own.failing = true;
    try {
      const outcome = await verifier({ jwksUrl: own.url }).verify(await signToken(rsa, claims()));
      expect(outcome).toMatchObject({ ok: false, status: 503, problem: { code: 'AUTH_UNAVAILABLE' } });
    } finally {
      await own.close();
    }
  });
});

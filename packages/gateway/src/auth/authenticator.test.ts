import { ManualClock } from '@flotilla/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from './api-keys.js';
import { createAuthenticator } from './authenticator.js';
import { garbage } from './fixtures/garbage.js';
import {
  type JwksServer,
  makeKey,
  signToken,
  startJwksServer,
  type TestKey,
} from './fixtures/jwks-server.js';
import { decodePrincipal, encodePrincipal } from './principal.js';

const NOW = 1_800_000_000;
let server: JwksServer;
let key: TestKey;
beforeAll(async () => {
  key = await makeKey('ES256', 'k1');
  server = await startJwksServer([key.jwk]);
});
afterAll(() => server.close());

const both = () => ({
  jwt: { issuer: 'https://issuer.test', audience: 'flotilla', jwksUrl: server.url },
  apiKey: { keys: [{ hash: hashApiKey('secret-key'), clientId: 'batch-job', scopes: ['play:read'] }] },
});
const token = (extra: Record<string, unknown> = {}) =>
  signToken(key, {
    iss: 'https://issuer.test',
    aud: 'flotilla',
    sub: 'alice',
    iat: NOW,
    exp: NOW + 60,
    ...extra,
  });
const clock = () => new ManualClock(NOW * 1000);

describe('createAuthenticator', () => {
  it('accepts either a bearer token or an API key when both are configured', async () => {
    const auth = createAuthenticator(both(), { clock: clock() });
    const jwt = await auth.authenticate({ headers: { authorization: `Bearer ${await token()}` } });
    expect(jwt).toMatchObject({ ok: true, method: 'jwt', claims: { sub: 'alice' } });
    const key = await auth.authenticate({ headers: { 'x-api-key': 'secret-key' } });
    expect(key).toMatchObject({ ok: true, method: 'api-key', claims: { sub: 'batch-job' } });
  });

  it('remembers a verified token, but refuses it once it expired', async () => {
    const now = clock();
    const auth = createAuthenticator(both(), { clock: now });
    const headers = { authorization: `Bearer ${await token({ exp: NOW + 30 })}` };
    const first = await auth.authenticate({ headers });
    const again = await auth.authenticate({ headers });
    expect(again).toBe(first); // the same outcome object: no second signature check
    now.advance(61_000); // past exp and the 30 s clock skew allowance
    expect(await auth.authenticate({ headers })).toMatchObject({ ok: false, status: 401 });
  });

  it("answers a connection's repeated header from its last one, within the same limits", async () => {
    const now = clock();
    const auth = createAuthenticator(both(), { clock: now });
    const socket = {};
    const good = `Bearer ${await token({ exp: NOW + 30 })}`;
    const first = await auth.authenticate({ headers: { authorization: good }, socket });
    expect(first).toMatchObject({ ok: true, claims: { sub: 'alice' } });
    expect(await auth.authenticate({ headers: { authorization: good }, socket })).toBe(first);
    // Any other header on that connection is checked on its own: a forged signature, no token.
    const forged = await auth.authenticate({ headers: { authorization: `${good}x` }, socket });
    expect(forged).toMatchObject({ ok: false, status: 401 });
    expect(await auth.authenticate({ headers: { authorization: 'Bearer' }, socket })).toMatchObject({
      ok: false,
      status: 401,
    });
    expect(await auth.authenticate({ headers: { authorization: good }, socket })).toBe(first);
    now.advance(61_000); // past exp and the 30 s clock skew allowance
    expect(await auth.authenticate({ headers: { authorization: good }, socket })).toMatchObject({
      ok: false,
      status: 401,
    });
  });

  it('asks for a credential with 401 when none is sent', async () => {
    const outcome = await createAuthenticator(both()).authenticate({ headers: {} });
    expect(outcome).toMatchObject({
      ok: false,
      status: 401,
      problem: { detail: 'Authentication is required: a bearer token or an API key (x-api-key)' },
      headers: { 'www-authenticate': 'Bearer realm="flotilla"' },
    });
  });

  it('lets anonymous requests through on an optional route, but not bad credentials', async () => {
    const auth = createAuthenticator({ ...both(), optional: true }, { clock: clock() });
    expect(await auth.authenticate({ headers: {} })).toEqual({
      ok: true,
      method: 'anonymous',
      claims: undefined,
    });
    expect(await auth.authenticate({ headers: { 'x-api-key': 'guess' } })).toMatchObject({ status: 401 });
    expect(await auth.authenticate({ headers: { authorization: 'Basic YTpi' } })).toMatchObject({
      status: 401,
      problem: { detail: 'The Authorization header is not a bearer token' },
    });
    const expired = await token({ exp: NOW - 3600 });
    expect(await auth.authenticate({ headers: { authorization: `Bearer ${expired}` } })).toMatchObject({
      status: 401,
    });
  });

  it('forwards the default claims and the configured extra ones in the principal header', async () => {
    const auth = createAuthenticator({ ...both(), forwardClaims: ['tenant'] }, { clock: clock() });
    const outcome = await auth.authenticate({
      headers: { authorization: `Bearer ${await token({ tenant: 'acme', email: 'a@x', scope: 'a b' })}` },
    });
    if (!outcome.ok) throw new Error('expected success');
    expect(decodePrincipal(auth.principal(outcome.claims!))).toEqual({
      sub: 'alice',
      scope: 'a b',
      iss: 'https://issuer.test',
      aud: 'flotilla',
      exp: NOW + 60,
      tenant: 'acme',
    });
  });

  it('names the route field when the configuration is bad', () => {
    expect(() => createAuthenticator({}, {}, 'routes.0.auth')).toThrow(
      'routes.0.auth.jwt/routes.0.auth.apiKey should be at least one of the two, got {}',
    );
    expect(() => createAuthenticator({ jwt: { issuer: 'x' } } as never, {}, 'routes.0.auth')).toThrow(
      /^routes\.0\.auth\.jwt/,
    );
  });
});

describe('principal header', () => {
  it('round-trips claims as base64url JSON, folding an scp array into scope', () => {
    const value = encodePrincipal({ sub: 'svc', scp: ['a', 'b'], client_id: 'svc', email: 'hidden' });
    expect(value).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodePrincipal(value)).toEqual({ sub: 'svc', scope: 'a b', client_id: 'svc' });
  });

  it('decodes nothing from an absent, malformed or oversized header', () => {
    expect(decodePrincipal(undefined)).toBeUndefined();
    expect(decodePrincipal('not base64url!')).toBeUndefined();
    expect(decodePrincipal(Buffer.from('[1,2]').toString('base64url'))).toBeUndefined();
    expect(decodePrincipal('A'.repeat(9000))).toBeUndefined();
  });
});

describe('authenticating hostile input', () => {
  it('answers every malformed credential with an outcome, never an exception', async () => {
    const auth = createAuthenticator(
      { ...both(), apiKey: { ...both().apiKey, query: 'key' } },
      { clock: clock() },
    );
    const next = garbage(7);
    for (let i = 0; i < 500; i++) {
      const value = next();
      const outcome = await auth.authenticate({
        url: `/x?key=${encodeURIComponent(value)}&${value}`,
        headers: { authorization: i % 2 ? `Bearer ${value}` : value, 'x-api-key': i % 3 ? undefined : value },
      });
      expect(outcome.ok).toBe(false);
      expect(() => decodePrincipal(value)).not.toThrow();
    }
  });
});

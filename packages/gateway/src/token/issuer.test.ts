import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, type TempDir } from '@flotilla/testkit';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JwtVerifier } from '../auth/jwt.js';
import { createDevIssuer, type DevIssuer } from './issuer.js';
import { KEY_FILE } from './keystore.js';

let dir: TempDir;
let server: Server;
let url: string;
let issuer: DevIssuer;

beforeAll(async () => {
  dir = await makeTempDir('issuer');
  server = createServer((req, res) => issuer.handler(req, res));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  issuer = await createDevIssuer({
    dataDir: join(dir.dir, 'issuer'),
    issuer: url,
    clients: [
      { clientId: 'billing', secret: 's3cret', scopes: ['invoice:read', 'invoice:write'] },
      { clientId: 'reports', secret: 'p@ss word', scopes: ['invoice:read'], audience: 'reporting' },
    ],
  });
});
afterAll(async () => {
  server.closeAllConnections();
  server.close();
  await dir.remove();
});

const verifier = (audience = 'flotilla', scopes?: string[]) =>
  new JwtVerifier({ issuer: url, audience, jwksUrl: `${url}/.well-known/jwks.json`, scopes });

function tokenRequest(form: Record<string, string>, headers: Record<string, string> = {}) {
  return fetch(`${url}/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams(form).toString(),
  });
}
const basic = (id: string, secret: string) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

describe('createDevIssuer', () => {
  it('keeps its private key in a 0600 file and reuses it with the same kid', async () => {
    const file = join(dir.dir, 'issuer', KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    const again = await createDevIssuer({ dataDir: join(dir.dir, 'issuer'), issuer: url });
    expect(again.kid).toBe(issuer.kid);
    expect(again.jwks()).toEqual(issuer.jwks());
  });

  it('creates one key when several issuers start on an empty directory at once', async () => {
    const dataDir = join(dir.dir, 'race');
    const issuers = await Promise.all(
      Array.from({ length: 5 }, () => createDevIssuer({ dataDir, issuer: url })),
    );
    expect(new Set(issuers.map((i) => i.kid)).size).toBe(1);
  });

  it('publishes a JWKS with only the public key, and an OpenID discovery document', async () => {
    const jwks = (await (await fetch(`${url}/.well-known/jwks.json`)).json()) as {
      keys: Record<string, unknown>[];
    };
    expect(jwks.keys).toEqual([
      expect.objectContaining({ kty: 'EC', crv: 'P-256', kid: issuer.kid, alg: 'ES256' }),
    ]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
    const discovery = await (await fetch(`${url}/.well-known/openid-configuration`)).json();
    expect(discovery).toMatchObject({
      issuer: url,
      jwks_uri: `${url}/.well-known/jwks.json`,
      token_endpoint: `${url}/oauth/token`,
    });
  });

  it('signs tokens that the gateway verifier accepts through the served JWKS', async () => {
    const token = await issuer.sign({ sub: 'alice', scope: 'play:read', claims: { tenant: 'acme' } });
    const outcome = await verifier('flotilla', ['play:read']).verify(token);
    expect(outcome).toMatchObject({
      ok: true,
      claims: { sub: 'alice', scope: 'play:read', tenant: 'acme', iss: url },
    });
  });

  it('answers 404 problem+json outside its endpoints', async () => {
    const res = await fetch(`${url}/admin`);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
  });
});

describe('the client-credentials token endpoint', () => {
  it('grants a client authenticated with HTTP Basic all its scopes when it asks for none', async () => {
    const res = await tokenRequest(
      { grant_type: 'client_credentials' },
      { authorization: basic('billing', 's3cret') },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      token_type: 'Bearer',
      expires_in: 3600,
      scope: 'invoice:read invoice:write',
    });
    const outcome = await verifier('flotilla', ['invoice:write']).verify(body.access_token as string);
    expect(outcome).toMatchObject({ ok: true, claims: { sub: 'billing', client_id: 'billing' } });
  });

  it('accepts credentials in the body, narrows to the asked scopes and uses the client audience', async () => {
    const res = await tokenRequest({
      grant_type: 'client_credentials',
      client_id: 'reports',
      client_secret: 'p@ss word',
      scope: 'invoice:read',
    });
    const body = (await res.json()) as { access_token: string; scope: string };
    expect(body.scope).toBe('invoice:read');
    expect(decodeJwt(body.access_token)).toMatchObject({ aud: 'reporting', scope: 'invoice:read' });
  });

  it('answers RFC 6749 errors with the right status', async () => {
    const cases: [Promise<Response>, number, string][] = [
      [
        tokenRequest({ grant_type: 'client_credentials' }, { authorization: basic('billing', 'wrong') }),
        401,
        'invalid_client',
      ],
      [
        tokenRequest({ grant_type: 'client_credentials', client_id: 'nobody', client_secret: 'x' }),
        401,
        'invalid_client',
      ],
      [
        tokenRequest({ grant_type: 'password' }, { authorization: basic('billing', 's3cret') }),
        400,
        'unsupported_grant_type',
      ],
      [
        tokenRequest(
          { grant_type: 'client_credentials', scope: 'invoice:read admin' },
          { authorization: basic('billing', 's3cret') },
        ),
        400,
        'invalid_scope',
      ],
      [
        tokenRequest(
          { grant_type: 'client_credentials', client_id: 'billing', client_secret: 's3cret' },
          { authorization: basic('billing', 's3cret') },
        ),
        400,
        'invalid_request',
      ],
      [
        fetch(`${url}/oauth/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: basic('billing', 's3cret') },
          body: '{"grant_type":"client_credentials"}',
        }),
        400,
        'invalid_request',
      ],
    ];
    for (const [request, status, error] of cases) {
      const res = await request;
      expect({ status: res.status, error: ((await res.json()) as { error: string }).error }).toEqual({
        status,
        error,
      });
      if (status === 401) expect(res.headers.get('www-authenticate')).toBe('Basic realm="flotilla"');
    }
  });
});

import { test } from '@flotilla/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../auth/api-keys.js';
import { decodePrincipal } from '../auth/principal.js';
import { startTestGateway } from '../fixtures/gateway.js';
import { type ServedIssuer, serveIssuer } from '../fixtures/issuer.js';
import { type Echo, startEcho, startUpstream, type TestUpstream } from '../fixtures/upstream.js';
import type { RouteDefinition } from '../routes/schema.js';
import type { RunningGateway } from '../start.js';

let echo: TestUpstream;
let counted: TestUpstream;
let idp: ServedIssuer;
let gw: RunningGateway;
let upstreamCalls = 0;

const routes = (): RouteDefinition[] => [
  {
    id: 'plays',
    match: { path: '/plays/*' },
    target: { url: echo.url },
    auth: {
      jwt: { issuer: idp.url, audience: 'flotilla', jwksUrl: idp.jwksUrl, scopes: ['play:read'] },
      forwardClaims: ['tenant'],
    },
  },
  {
    id: 'partners',
    match: { path: '/partners' },
    target: { url: echo.url },
    auth: { apiKey: { keys: [{ hash: hashApiKey('k-123'), clientId: 'acme', scopes: ['feed:read'] }] } },
  },
  {
    id: 'limited',
    match: { path: '/limited' },
    target: { url: echo.url },
    rateLimit: { limit: 2, period: '1h', key: 'ip' },
  },
  { id: 'cached', match: { path: '/cached' }, target: { url: counted.url }, cache: { ttl: '1m' } },
  {
    id: 'browser',
    match: { path: '/browser' },
    target: { url: echo.url },
    cors: { origins: ['https://app.example.com'], exposeHeaders: ['x-request-id'] },
  },
];

beforeAll(async () => {
  echo = await startEcho('echo');
  counted = await startUpstream((req, res) => {
    upstreamCalls++;
    const lang = req.headers['accept-language'] ?? 'none';
    res.writeHead(200, {
      'content-type': 'text/plain',
      vary: 'Accept-Language',
      'cache-control': 'max-age=60',
    });
    res.end(`hello in ${lang} #${upstreamCalls}`);
  });
  idp = await serveIssuer();
  gw = await startTestGateway({
    routes: routes(),
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([echo?.close(), counted?.close(), idp?.close()]);
});

const get = (path: string, headers: Record<string, string> = {}) => fetch(`${gw.url}${path}`, { headers });

describe('JWT authentication through the gateway', () => {
  it('refuses a request without a token with 401 and a WWW-Authenticate challenge', async () => {
    const response = await get('/plays/1');
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer realm="flotilla"');
    expect(response.headers.get('content-type')).toBe('application/problem+json');
    expect(((await response.json()) as { code: string }).code).toBe('UNAUTHENTICATED');
  });

  it('refuses a token without the required scope with 403', async () => {
    const token = await idp.issuer.sign({ sub: 'alice', scope: 'play:write' });
    const response = await get('/plays/1', { authorization: `Bearer ${token}` });
    expect(response.status).toBe(403);
    expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
  });

  it('passes a good token and sends the verified claims upstream in x-flotilla-principal', async () => {
    const token = await idp.issuer.sign({ sub: 'alice', scope: 'play:read', claims: { tenant: 'acme' } });
    const response = await get('/plays/1', {
      authorization: `Bearer ${token}`,
      'x-flotilla-principal': 'eyJzdWIiOiJtYWxsb3J5In0', // {"sub":"mallory"}: must never reach the service
    });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as Echo;
    const principal = decodePrincipal(seen.headers['x-flotilla-principal']);
    expect(principal).toMatchObject({ sub: 'alice', scope: 'play:read', iss: idp.url, tenant: 'acme' });
  });

  it('never forwards a client-sent x-flotilla-principal, even on a route without auth', async () => {
    const response = await get('/browser', { 'x-flotilla-principal': 'eyJzdWIiOiJtYWxsb3J5In0' });
    const seen = (await response.json()) as Echo;
    expect(seen.headers['x-flotilla-principal']).toBeUndefined();
  });
});

describe('API keys through the gateway', () => {
  it('accepts a known key and names its client to the upstream', async () => {
    const response = await get('/partners', { 'x-api-key': 'k-123' });
    expect(response.status).toBe(200);
    const seen = (await response.json()) as Echo;
    expect(decodePrincipal(seen.headers['x-flotilla-principal'])).toMatchObject({
      sub: 'acme',
      client_id: 'acme',
    });
  });

  it('refuses an unknown key with 401', async () => {
    const response = await get('/partners', { 'x-api-key': 'guess' });
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toContain('ApiKey');
  });
});

describe('rate limits through the gateway', () => {
  it('answers 429 with Retry-After once the limit is used up, with RateLimit headers on every answer', async () => {
    const first = await get('/limited');
    expect(first.status).toBe(200);
    expect(first.headers.get('ratelimit-limit')).toBe('2');
    expect(first.headers.get('ratelimit-remaining')).toBe('1');
    expect((await get('/limited')).status).toBe(200);
    const refused = await get('/limited');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('ratelimit-remaining')).toBe('0');
    expect(((await refused.json()) as { code: string }).code).toBe('RATE_LIMITED');
  });
});

describe('the response cache through the gateway', () => {
  it('serves a repeated GET from the cache without reaching the upstream again, per Vary', async () => {
    const calls = upstreamCalls;
    const miss = await get('/cached', { 'accept-language': 'en' });
    expect(miss.headers.get('x-cache')).toBe('MISS');
    const missBody = await miss.text();
    const hit = await get('/cached', { 'accept-language': 'en' });
    expect(hit.headers.get('x-cache')).toBe('HIT');
    expect(await hit.text()).toBe(missBody);
    expect(upstreamCalls).toBe(calls + 1);

    // Another Accept-Language is another variant: it goes upstream.
    const other = await get('/cached', { 'accept-language': 'fr' });
    expect(other.headers.get('x-cache')).toBe('MISS');
    expect(await other.text()).toContain('hello in fr');
    expect(upstreamCalls).toBe(calls + 2);
  });

  it('answers a HEAD from the cache without a body', async () => {
    await get('/cached', { 'accept-language': 'de' });
    const head = await fetch(`${gw.url}/cached`, { method: 'HEAD', headers: { 'accept-language': 'de' } });
    expect(head.headers.get('x-cache')).toBe('HIT');
    expect(await head.text()).toBe('');
  });
});

describe('CORS through the gateway', () => {
  it('answers a preflight from an allowed origin with 204 without reaching the upstream', async () => {
    const response = await fetch(`${gw.url}/browser`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'PUT' },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-allow-methods')).toContain('PUT');
  });

  it('refuses a preflight from another origin with 403', async () => {
    const response = await fetch(`${gw.url}/browser`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' },
    });
    expect(response.status).toBe(403);
    expect(((await response.json()) as { code: string }).code).toBe('CORS_REJECTED');
  });

  it('adds the CORS headers and the secure headers to the upstream answer', async () => {
    const response = await get('/browser', { origin: 'https://app.example.com' });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(response.headers.get('access-control-expose-headers')).toBe('x-request-id');
    expect(response.headers.get('vary')).toBe('Origin');
    expect(response.headers.get('strict-transport-security')).toContain('max-age=');
    expect(response.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('a rate limit shared through Redis', () => {
  test('counts the requests of two gateway instances against one limit', async ({ redis }) => {
    const shared: RouteDefinition[] = [
      {
        id: 'shared',
        match: { path: '/shared' },
        target: { url: echo.url },
        rateLimit: { limit: 3, period: '1h', key: 'ip', store: 'redis' },
      },
    ];
    const options = { routes: shared, redisUrl: redis.url, redisPrefix: redis.prefix };
    const a = await startTestGateway(options);
    const b = await startTestGateway(options);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const response = await fetch(`${(i % 2 === 0 ? a : b).url}/shared`);
        statuses.push(response.status);
        await response.arrayBuffer();
      }
      expect(statuses.filter((s) => s === 200)).toHaveLength(3);
      expect(statuses.filter((s) => s === 429)).toHaveLength(3);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('refuses at start a redis rate limit when the gateway has no Redis, naming the field', async () => {
    const saved = process.env.FLOTILLA_REDIS_URL;
    delete process.env.FLOTILLA_REDIS_URL;
    try {
      await expect(
        startTestGateway({
          routes: [{ id: 'r', match: { path: '/r' }, static: {}, rateLimit: { limit: 1, store: 'redis' } }],
        }),
      ).rejects.toThrow(
        'routes.r.rateLimit.store should be "local" when the gateway has no Redis, got "redis"',
      );
    } finally {
      if (saved !== undefined) process.env.FLOTILLA_REDIS_URL = saved;
    }
  });
});

import { describe, expect, it } from 'vitest';
import { createCors } from './cors.js';

const preflight = (origin: string, method = 'PUT', headers?: string) => ({
  method: 'OPTIONS',
  headers: {
    origin,
    'access-control-request-method': method,
    ...(headers ? { 'access-control-request-headers': headers } : {}),
  },
});

describe('createCors', () => {
  const cors = createCors({
    origins: ['https://app.example.com', 'https://*.example.org'],
    methods: ['GET', 'PUT'],
    headers: ['Authorization', 'Content-Type'],
    exposeHeaders: ['x-request-id'],
    credentials: true,
    maxAge: '1h',
  });

  it('answers a preflight from an allowed origin with 204 and the allowed methods and headers', () => {
    expect(cors.preflight(preflight('https://app.example.com', 'PUT', 'content-type'))).toEqual({
      status: 204,
      headers: {
        'access-control-allow-origin': 'https://app.example.com',
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET, PUT',
        'access-control-allow-headers': 'authorization, content-type',
        'access-control-max-age': '3600',
        vary: 'Origin, Access-Control-Request-Method, Access-Control-Request-Headers',
      },
    });
  });

  it('matches subdomains of a wildcard origin, but not the bare domain or a look-alike', () => {
    expect(cors.preflight(preflight('https://eu.api.example.org'))?.status).toBe(204);
    expect(cors.preflight(preflight('https://example.org'))?.status).toBe(403);
    expect(cors.preflight(preflight('https://evil-example.org'))?.status).toBe(403);
    expect(cors.preflight(preflight('http://app.example.com'))?.status).toBe(403);
  });

  it('refuses a preflight for a method or header the route does not allow, saying which', () => {
    expect(cors.preflight(preflight('https://app.example.com', 'DELETE'))).toMatchObject({
      status: 403,
      problem: { code: 'CORS_REJECTED', detail: 'Method DELETE is not allowed cross-origin' },
    });
    expect(cors.preflight(preflight('https://app.example.com', 'GET', 'x-debug'))?.problem?.detail).toBe(
      'Header x-debug is not allowed cross-origin',
    );
  });

  it('leaves requests that are not preflights to the route', () => {
    expect(cors.preflight({ method: 'OPTIONS', headers: {} })).toBeUndefined();
    expect(cors.preflight({ method: 'GET', headers: { origin: 'https://app.example.com' } })).toBeUndefined();
  });

  it('adds allow-origin, credentials and exposed headers to actual responses of allowed origins only', () => {
    expect(cors.headers({ headers: { origin: 'https://app.example.com' } })).toEqual({
      'access-control-allow-origin': 'https://app.example.com',
      'access-control-allow-credentials': 'true',
      'access-control-expose-headers': 'x-request-id',
      vary: 'Origin',
    });
    expect(cors.headers({ headers: { origin: 'https://evil.test' } })).toEqual({ vary: 'Origin' });
  });

  it('answers any origin with * when credentials are off', () => {
    const open = createCors({ origins: '*' });
    expect(open.headers({ headers: { origin: 'https://x.test' } })).toEqual({
      'access-control-allow-origin': '*',
    });
    expect(open.preflight(preflight('https://x.test', 'POST', 'x-a'))?.headers).toMatchObject({
      'access-control-allow-origin': '*',
      'access-control-allow-headers': 'x-a',
    });
  });

  it('takes * in headers as any request header, reflecting the asked ones (also with credentials)', () => {
    const any = createCors({ origins: ['https://app.example.com'], headers: ['*'], credentials: true });
    expect(any.preflight(preflight('https://app.example.com', 'PUT', 'Content-Type, X-Trace'))).toMatchObject(
      {
        status: 204,
        headers: { 'access-control-allow-headers': 'content-type, x-trace' },
      },
    );
    const exposed = createCors({ origins: '*', exposeHeaders: ['*'] });
    expect(exposed.headers({ headers: { origin: 'https://x.test' } })).toMatchObject({
      'access-control-expose-headers': '*',
    });
  });

  it('refuses a wildcard with credentials and malformed origins, naming the field', () => {
    expect(() => createCors({ origins: '*', credentials: true })).toThrow(
      'cors.origins should be a list of origins when credentials is true, got "*"',
    );
    expect(() =>
      createCors({ origins: ['https://app.example.com'], exposeHeaders: ['*'], credentials: true }),
    ).toThrow(
      'cors.exposeHeaders should be header names when credentials is true (browsers read * literally then), got "*"',
    );
    expect(() => createCors({ origins: ['app.example.com'] })).toThrow(
      /^cors\.origins\.0 should be an origin .*"app\.example\.com"$/,
    );
  });
});

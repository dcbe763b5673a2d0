import { ManualClock } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createRateLimiter } from './rate-limit.js';

const from = (ip: string, headers: Record<string, string> = {}) => ({
  headers,
  socket: { remoteAddress: ip },
});

describe('createRateLimiter (local)', () => {
  it('admits a burst with RateLimit headers, then refuses with 429 and Retry-After', async () => {
    const clock = new ManualClock(0);
    const rl = createRateLimiter({ limit: 2, period: '1m', key: 'ip' }, { route: 'plays', clock });
    expect(await rl.check(from('10.0.0.1'))).toEqual({
      allowed: true,
      key: 'ip:10.0.0.1',
      headers: {
        'ratelimit-limit': '2',
        'ratelimit-remaining': '1',
        'ratelimit-reset': '30',
        'ratelimit-policy': '2;w=60',
      },
    });
    expect((await rl.check(from('10.0.0.1'))).allowed).toBe(true);
    const refused = await rl.check(from('10.0.0.1'));
    expect(refused).toMatchObject({
      allowed: false,
      status: 429,
      problem: { status: 429, code: 'RATE_LIMITED' },
      headers: { 'retry-after': '30', 'ratelimit-remaining': '0', 'ratelimit-reset': '30' },
    });
    clock.advance(30_000);
    expect((await rl.check(from('10.0.0.1'))).allowed).toBe(true);
  });

  it('counts each client id separately, and anonymous callers by IP', async () => {
    const rl = createRateLimiter({ limit: 1, period: '1h' }, { route: 'r', clock: new ManualClock(0) });
    expect((await rl.check(from('10.0.0.1'), { sub: 'alice', client_id: 'web' })).key).toBe('client:web');
    expect((await rl.check(from('10.0.0.2'), { sub: 'bob', client_id: 'web' })).allowed).toBe(false);
    expect((await rl.check(from('10.0.0.1'), { sub: 'carol' })).allowed).toBe(true);
    expect((await rl.check(from('::ffff:10.0.0.9'))).key).toBe('ip:10.0.0.9');
  });

  it('keys by a header, falling back to the IP when the header is missing', async () => {
    const rl = createRateLimiter({ limit: 1, period: '1h', key: 'header:X-Tenant' }, { route: 'r' });
    expect((await rl.check(from('10.0.0.1', { 'x-tenant': 'acme' }))).key).toBe('header:acme');
    expect((await rl.check(from('10.0.0.2', { 'x-tenant': 'acme' }))).allowed).toBe(false);
    expect((await rl.check(from('10.0.0.2'))).key).toBe('ip:10.0.0.2');
  });

  it('fails at construction naming the field and the value', () => {
    expect(() => createRateLimiter({ limit: 0 }, { route: 'r' })).toThrow(
      'rateLimit.limit expected integer to be greater or equal to 1, got 0',
    );
    expect(() => createRateLimiter({ limit: 1, key: 'cookie' }, { route: 'r' })).toThrow(
      /^rateLimit\.key .*"cookie"$/,
    );
    expect(() => createRateLimiter({ limit: 1, period: 'often' }, { route: 'r' })).toThrow(
      'rateLimit.period should be a duration',
    );
    expect(() => createRateLimiter({ limit: 1, store: 'redis' }, { route: 'r' })).toThrow(
      'rateLimit.store should be "local" when the gateway has no Redis, got "redis"',
    );
  });
});

describe('createRateLimiter (redis)', () => {
  test('shares one limit between two gateway instances on separate Redis connections', async ({ redis }) => {
    const clients = [new Redis(redis.url), new Redis(redis.url)];
    try {
      const gateways = clients.map((client) =>
        createRateLimiter(
          { limit: 5, period: '1h', key: 'client', store: 'redis' },
          { route: 'plays', redis: client, prefix: redis.prefix },
        ),
      );
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) => gateways[i % 2]!.check(from('10.0.0.1'), { client_id: 'web' })),
      );
      expect(outcomes.filter((o) => o.allowed)).toHaveLength(5);
      const refused = outcomes.find((o) => !o.allowed)!;
      expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
      expect(refused.headers['ratelimit-limit']).toBe('5');
      // Another client of the same route has its own limit.
      expect((await gateways[0]!.check(from('10.0.0.1'), { client_id: 'cli' })).allowed).toBe(true);
    } finally {
      for (const c of clients) c.disconnect();
    }
  });
});

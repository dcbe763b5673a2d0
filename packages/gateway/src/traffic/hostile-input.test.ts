import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { garbage } from '../auth/fixtures/garbage.js';
import { ResponseCache } from './cache.js';
import { createCors } from './cors.js';
import { createRateLimiter } from './rate-limit.js';

describe('traffic modules given hostile input', () => {
  it('never throw on malformed headers, URLs or upstream responses', async () => {
    const next = garbage(11);
    const cache = new ResponseCache({ ttl: '1m', maxBytes: '64kb' }, 'r', { clock: new ManualClock(0) });
    const cors = createCors({ origins: ['https://*.example.com'], headers: ['content-type'] });
    const limiter = createRateLimiter(
      { limit: 5, key: 'header:x-tenant' },
      { route: 'r', clock: new ManualClock(0) },
    );
    for (let i = 0; i < 500; i++) {
      const v = next();
      const req = {
        method: i % 2 ? 'GET' : 'OPTIONS',
        url: `/${v}`,
        headers: {
          origin: v,
          'access-control-request-method': v,
          'access-control-request-headers': v,
          'x-tenant': v,
          vary: v,
        },
        socket: {},
      };
      cors.preflight(req);
      cors.headers(req);
      await limiter.check(req, { sub: v });
      cache.store(req, 200, { 'cache-control': v, vary: v, age: v }, Buffer.from(v));
      cache.lookup(req, { sub: v });
    }
    expect(cache.stats().bytes).toBeLessThanOrEqual(64 * 1024);
  });
});

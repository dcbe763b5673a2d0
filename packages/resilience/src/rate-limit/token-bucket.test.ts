import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { RateLimitedError } from '../errors.js';
import { flush, track } from '../fixtures/helpers.js';
import { TokenBucketLimiter } from './token-bucket.js';

const ok = async () => 'ok';

describe('TokenBucketLimiter', () => {
  it('admits a burst, then one call per refill interval, refusing with retryAfterMs', async () => {
    const clock = new ManualClock(0);
    const limiter = new TokenBucketLimiter({ clock, name: 'api', limit: 10, periodMs: 1_000, burst: 3 });
    for (let i = 0; i < 3; i++) await limiter.execute(ok);
    const error = await limiter.execute(ok).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RateLimitedError);
    expect(error).toMatchObject({
      code: 'RATE_LIMITED',
      status: 429,
      retryAfterMs: 100,
      data: { policy: 'api' },
    });
    clock.advance(99);
    await expect(limiter.execute(ok)).rejects.toBeInstanceOf(RateLimitedError);
    clock.advance(1);
    await expect(limiter.execute(ok)).resolves.toBe('ok');
    clock.advance(10_000);
    expect(limiter.snapshot()).toMatchObject({ availableTokens: 3, permittedCalls: 4, rejectedCalls: 2 });
  });

  it('keeps one bucket per key', async () => {
    const clock = new ManualClock(0);
    const limiter = new TokenBucketLimiter({ clock, limit: 1, periodMs: 60_000 });
    await limiter.execute(ok, { key: 'alice' });
    await expect(limiter.execute(ok, { key: 'alice' })).rejects.toBeInstanceOf(RateLimitedError);
    await expect(limiter.execute(ok, { key: 'bob' })).resolves.toBe('ok');
    expect(limiter.tryAcquire('carol')).toEqual({ allowed: true, retryAfterMs: 0, remaining: 0 });
    expect(limiter.tryAcquire('carol')).toEqual({ allowed: false, retryAfterMs: 60_000, remaining: 0 });
  });

  it('lets calls wait for a reserved permit up to maxWaitMs, in order', async () => {
    const clock = new ManualClock(0);
    const limiter = new TokenBucketLimiter({ clock, limit: 10, periodMs: 1_000, burst: 1, maxWaitMs: 250 });
    await limiter.execute(ok);
    const second = track(limiter.execute(async () => 2));
    const third = track(limiter.execute(async () => 3));
    // The fourth would wait 300 ms > 250 ms.
    await expect(limiter.execute(ok)).rejects.toBeInstanceOf(RateLimitedError);
    clock.advance(100);
    await flush();
    expect([second.state, third.state]).toEqual(['fulfilled', 'pending']);
    clock.advance(100);
    await flush();
    expect(third).toMatchObject({ state: 'fulfilled', value: 3 });
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => new TokenBucketLimiter({ limit: 0 })).toThrow('TokenBucket limit should be > 0, got 0');
    expect(() => new TokenBucketLimiter({ limit: 5, burst: 0 })).toThrow(
      'TokenBucket burst should be an integer >= 1, got 0',
    );
  });
});

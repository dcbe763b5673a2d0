import { ManualClock, ValidationError } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker/circuit-breaker.js';
import { fallback } from './fallback.js';
import { connectionRefused, httpError } from './fixtures/helpers.js';
import { wrap } from './wrap.js';

describe('fallback', () => {
  it('answers failures and rejections with the handler value', async () => {
    const f = fallback((error) => `cached (${(error as Error).message})`);
    await expect(f.execute(() => Promise.reject(connectionRefused()))).resolves.toBe(
      'cached (connect ECONNREFUSED 127.0.0.1:1)',
    );
    const breaker = new CircuitBreaker({ clock: new ManualClock() });
    breaker.transitionToForcedOpenState();
    await expect(wrap(f, breaker).execute(async () => 'live')).resolves.toMatch(/^cached/);
    expect(f.snapshot().fallbacks).toBe(2);
  });

  it('lets client errors (4xx) through unchanged', async () => {
    const f = fallback(() => 'cached');
    const bad = new ValidationError('name is required');
    await expect(f.execute(() => Promise.reject(bad))).rejects.toBe(bad);
    await expect(f.execute(() => Promise.reject(httpError(404)))).rejects.toMatchObject({ status: 404 });
  });

  it('does not answer for a caller that cancelled', async () => {
    const f = fallback(() => 'cached');
    const controller = new AbortController();
    const p = f.execute(() => new Promise(() => {}), { signal: controller.signal });
    controller.abort(new Error('bye'));
    await expect(p).rejects.toThrow('bye');
  });
});

import { ManualClock, ValidationError } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, RateLimitedError } from './errors.js';
import type { ResilienceEvent } from './events.js';
import { connectionRefused, flush, httpError, track } from './fixtures/helpers.js';
import { retry } from './retry.js';
import { RetryBudget } from './retry-budget.js';

/** Work that fails `failures` times with `error`, then answers with the attempt number. */
function flaky(failures: number, error: unknown = httpError(503)) {
  let calls = 0;
  const fn = async (ctx: { attempt: number }) => {
    calls++;
    if (calls <= failures) throw error;
    return ctx.attempt;
  };
  return { fn, calls: () => calls };
}

async function drive(clock: ManualClock, steps = 20, ms = 1_000): Promise<void> {
  for (let i = 0; i < steps; i++) {
    await flush(2);
    clock.advance(ms);
  }
  await flush();
}

describe('retry', () => {
  it('retries a retryable error after a full-jitter exponential backoff', async () => {
    const clock = new ManualClock();
    const draws = [0.5, 0.25];
    const r = retry({
      clock,
      maxAttempts: 3,
      backoff: { initialDelayMs: 100, multiplier: 2 },
      random: () => draws.shift()!,
    });
    const events: ResilienceEvent[] = [];
    r.onEvent((e) => events.push(e));
    const work = flaky(2);
    const result = track(r.execute(work.fn));
    await flush();
    expect(work.calls()).toBe(1);
    clock.advance(49);
    await flush();
    expect(work.calls()).toBe(1);
    clock.advance(1); // 0.5 * 100
    await flush();
    expect(work.calls()).toBe(2);
    clock.advance(50); // 0.25 * 200
    await flush();
    expect(result).toMatchObject({ state: 'fulfilled', value: 3 });
    expect(events).toMatchObject([
      { type: 'retried', attempt: 1, delayMs: 50 },
      { type: 'retried', attempt: 2, delayMs: 50 },
    ]);
  });

  it('gives up after maxAttempts with the last error', async () => {
    const clock = new ManualClock();
    const r = retry({ clock, maxAttempts: 3, budget: false });
    const work = flaky(10, connectionRefused());
    const result = track(r.execute(work.fn));
    await drive(clock);
    expect(work.calls()).toBe(3);
    expect(result.error).toMatchObject({ code: 'ECONNREFUSED' });
    expect(r.snapshot().gaveUp.attempts).toBe(1);
  });

  it('does not retry non-retryable errors, 4xx, or the policies own rejections', async () => {
    const clock = new ManualClock();
    const r = retry({ clock });
    for (const error of [
      new ValidationError('bad'),
      httpError(404),
      new BrokenCircuitError('open'),
      new Error('bug'),
    ]) {
      const work = flaky(1, error);
      await expect(r.execute(work.fn)).rejects.toBe(error);
      expect(work.calls()).toBe(1);
    }
    expect(r.snapshot().gaveUp['not-retryable']).toBe(4);
  });

  it('does not retry a call marked as not idempotent', async () => {
    const r = retry({ clock: new ManualClock() });
    const work = flaky(1);
    await expect(r.execute(work.fn, { idempotent: false })).rejects.toMatchObject({ status: 503 });
    expect(work.calls()).toBe(1);
    expect(r.snapshot().gaveUp['not-idempotent']).toBe(1);
  });

  it('stops when the next attempt could not start before the deadline', async () => {
    const clock = new ManualClock(0);
    const r = retry({ clock, maxAttempts: 10, backoff: { initialDelayMs: 100, jitter: 'none' } });
    const work = flaky(10);
    const result = track(r.execute(work.fn, { deadline: 350 }));
    await drive(clock, 10, 50);
    // Attempts at 0, 100, 300; the next would start at 700 > 350.
    expect(work.calls()).toBe(3);
    expect(result.state).toBe('rejected');
    expect(r.snapshot().gaveUp.deadline).toBe(1);
  });

  it('waits at least retryAfterMs of a rate-limit error', async () => {
    const clock = new ManualClock();
    const limited = new RateLimitedError('slow down', { data: { retryAfterMs: 2_000 } });
    // An HTTP client's 429 carries the same hint, but it is not our own rejection.
    const remote = Object.assign(new Error('429 Too Many Requests'), { status: 429, retryAfterMs: 2_000 });
    expect(limited.retryAfterMs).toBe(2_000);
    const r = retry({ clock, backoff: { initialDelayMs: 10 } });
    const work = flaky(1, remote);
    const result = track(r.execute(work.fn));
    await flush();
    clock.advance(1_999);
    await flush();
    expect(work.calls()).toBe(1);
    clock.advance(1);
    await flush();
    expect(result).toMatchObject({ state: 'fulfilled', value: 2 });
  });

  it('keeps retries within the budget so they cannot multiply into a storm', async () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ clock, ratio: 0.2, minRetriesPerSecond: 0, windowMs: 10_000 });
    const r = retry({ clock, maxAttempts: 5, budget, backoff: { initialDelayMs: 0 } });
    let attempts = 0;
    const down = async () => {
      attempts++;
      throw httpError(503);
    };
    for (let i = 0; i < 100; i++) await r.execute(down).catch(() => undefined);
    // Without a budget this would be 500 attempts; with 20% it is 100 calls + 20 retries.
    expect(attempts).toBe(120);
    expect(r.snapshot()).toMatchObject({ calls: 100, retries: 20, gaveUp: { budget: 100 } });
    // The window slides: old calls stop paying for new retries.
    clock.advance(10_000);
    expect(budget.snapshot()).toEqual({ calls: 0, retries: 0, available: 0 });
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => retry({ maxAttempts: 0 })).toThrow('Retry maxAttempts should be an integer >= 1, got 0');
    expect(() => retry({ backoff: { multiplier: 0.5 } })).toThrow(
      'Retry backoff.multiplier should be a number >= 1, got 0.5',
    );
    expect(() => new RetryBudget({ ratio: -1 })).toThrow('RetryBudget ratio should be in [0, 1000], got -1');
  });
});

describe('RetryBudget', () => {
  it('allows the floor of minRetriesPerSecond even without calls', () => {
    const clock = new ManualClock(0);
    const budget = new RetryBudget({ clock, ratio: 0.1, minRetriesPerSecond: 1, windowMs: 3_000 });
    expect([budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    for (let i = 0; i < 10; i++) budget.recordCall();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.snapshot()).toEqual({ calls: 10, retries: 4, available: 0 });
  });
});

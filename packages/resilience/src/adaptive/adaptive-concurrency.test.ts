import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { ConcurrencyLimitedError, DeadlineExceededError } from '../errors.js';
import { deferred } from '../fixtures/helpers.js';
import { AdaptiveConcurrency } from './adaptive-concurrency.js';
import { AimdLimit } from './aimd-limit.js';
import { GradientLimit } from './gradient-limit.js';

describe('GradientLimit', () => {
  it('grows while latency stays at its baseline and the limit is used', () => {
    const limit = new GradientLimit({ initialLimit: 20, minLimit: 5, maxLimit: 100 });
    let last = limit.limit;
    for (let i = 0; i < 20; i++) {
      const next = limit.update({ rttMs: 10, inflight: last, dropped: false });
      expect(next).toBeGreaterThan(last);
      last = next;
    }
  });

  it('does not grow while calls leave most of the limit unused', () => {
    const limit = new GradientLimit({ initialLimit: 40, minLimit: 5 });
    for (let i = 0; i < 20; i++) limit.update({ rttMs: 10, inflight: 5, dropped: false });
    expect(limit.limit).toBe(40);
  });

  it('shrinks towards the minimum when latency rises above the baseline', () => {
    const limit = new GradientLimit({ initialLimit: 50, minLimit: 5, maxLimit: 200 });
    for (let i = 0; i < 15; i++) limit.update({ rttMs: 10, inflight: 50, dropped: false });
    const before = limit.limit;
    for (let i = 0; i < 30; i++) limit.update({ rttMs: 100, inflight: 200, dropped: false });
    expect(limit.limit).toBeLessThan(before / 2);
    expect(limit.limit).toBeGreaterThanOrEqual(5);
  });
});

describe('AimdLimit', () => {
  it('adds one per window and backs off multiplicatively on a drop', () => {
    const limit = new AimdLimit({ initialLimit: 20, minLimit: 10, backoffRatio: 0.5 });
    expect(limit.update({ rttMs: 5, inflight: 20, dropped: false })).toBe(21);
    expect(limit.update({ rttMs: 5, inflight: 20, dropped: true })).toBe(10);
    expect(limit.update({ rttMs: 5, inflight: 20, dropped: true })).toBe(10);
    expect(limit.update({ rttMs: 6_000, inflight: 1, dropped: false })).toBe(10);
  });
});

describe('AdaptiveConcurrency', () => {
  it('sheds calls beyond the current limit with ConcurrencyLimitedError', async () => {
    const clock = new ManualClock();
    const a = new AdaptiveConcurrency({ clock, limit: new AimdLimit({ initialLimit: 2, minLimit: 1 }) });
    const hold = deferred();
    const running = [a.execute(() => hold.promise), a.execute(() => hold.promise)];
    await expect(a.execute(async () => 1)).rejects.toBeInstanceOf(ConcurrencyLimitedError);
    hold.resolve();
    await Promise.all(running);
    expect(a.snapshot()).toMatchObject({ inflight: 0, admittedCalls: 2, rejectedCalls: 1 });
  });

  it('lowers the limit after a window with drops and raises it after busy healthy windows', async () => {
    const clock = new ManualClock();
    const a = new AdaptiveConcurrency({
      clock,
      windowMs: 100,
      minSamples: 2,
      limit: new AimdLimit({ initialLimit: 10, minLimit: 1, backoffRatio: 0.5 }),
    });
    const changes: number[] = [];
    a.onEvent((e) => {
      if (e.type === 'limit-changed') changes.push(e.to);
    });
    for (let i = 0; i < 2; i++) {
      const d = deferred();
      const p = a.execute(() => d.promise).catch(() => 0);
      clock.advance(60);
      d.reject(new DeadlineExceededError('slow'));
      await p;
    }
    expect(a.limit).toBe(5);
    const holds = Array.from({ length: 5 }, () => deferred());
    const calls = holds.map((h) => a.execute(() => h.promise));
    clock.advance(100);
    for (const h of holds) h.resolve();
    await Promise.all(calls);
    expect(a.limit).toBe(6);
    expect(changes).toEqual([5, 6]);
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => new AdaptiveConcurrency({ limit: 'vegas' as never })).toThrow(
      'AdaptiveConcurrency limit should be "gradient", "aimd" or a ConcurrencyLimit, got "vegas"',
    );
    expect(() => new GradientLimit({ smoothing: 2 })).toThrow(
      'GradientLimit smoothing should be in (0, 1], got 2',
    );
    expect(() => new AimdLimit({ minLimit: 10, maxLimit: 5 })).toThrow(
      'AimdLimit maxLimit should be an integer >= 10, got 5',
    );
  });
});

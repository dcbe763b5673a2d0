import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { ConcurrencyLimitedError, DeadlineExceededError } from '../errors.js';
import type { ResilienceEvent } from '../events.js';
import { deferred, flush, track } from '../fixtures/helpers.js';
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

describe('AdaptiveConcurrency with a queue', () => {
  function queued(options: { maxQueuedCalls?: number; maxWaitMs?: number; initialLimit?: number } = {}) {
    const clock = new ManualClock(0);
    const a = new AdaptiveConcurrency({
      clock,
      maxQueuedCalls: options.maxQueuedCalls ?? 10,
      ...(options.maxWaitMs === undefined ? {} : { maxWaitMs: options.maxWaitMs }),
      windowMs: 100,
      minSamples: 1,
      limit: new AimdLimit({ initialLimit: options.initialLimit ?? 1, minLimit: 1, backoffRatio: 0.5 }),
    });
    return { clock, a };
  }

  it('lets calls over the limit wait and admits them in FIFO order as slots free up', async () => {
    const { a } = queued();
    const hold = deferred();
    const order: string[] = [];
    const running = a.execute(() => hold.promise);
    const waiting = ['first', 'second', 'third'].map((name) => a.execute(async () => order.push(name)));
    await flush();
    expect(a.snapshot()).toMatchObject({ inflight: 1, queuedCalls: 3, maxQueuedCalls: 10 });
    hold.resolve();
    await Promise.all([running, ...waiting]);
    expect(order).toEqual(['first', 'second', 'third']);
    expect(a.snapshot()).toMatchObject({ inflight: 0, queuedCalls: 0, admittedCalls: 4, rejectedCalls: 0 });
  });

  it('gives a released slot to the oldest waiter, not to a newcomer', async () => {
    const { a } = queued();
    const hold = deferred();
    const running = a.execute(() => hold.promise);
    const oldest = track(a.execute(async () => 'oldest'));
    hold.resolve();
    await running;
    const newcomer = track(a.execute(async () => 'newcomer'));
    await flush();
    expect(oldest).toMatchObject({ state: 'fulfilled', value: 'oldest' });
    expect(newcomer).toMatchObject({ state: 'fulfilled', value: 'newcomer' });
    expect(a.snapshot()).toMatchObject({ admittedCalls: 3, rejectedCalls: 0 });
  });

  it('rejects with ConcurrencyLimitedError once the queue is full', async () => {
    const { a } = queued({ maxQueuedCalls: 1 });
    const events: ResilienceEvent[] = [];
    a.onEvent((e) => events.push(e));
    const hold = deferred();
    const running = a.execute(() => hold.promise);
    const waiting = a.execute(async () => 'waited');
    await expect(a.execute(async () => 'over')).rejects.toBeInstanceOf(ConcurrencyLimitedError);
    expect(events).toMatchObject([{ type: 'rejected', reason: 'limit', error: { data: { queued: 1 } } }]);
    hold.resolve();
    await running;
    await expect(waiting).resolves.toBe('waited');
  });

  it('rejects a waiter with ConcurrencyLimitedError when maxWaitMs passes without a slot', async () => {
    const { clock, a } = queued({ maxWaitMs: 100 });
    const events: ResilienceEvent[] = [];
    a.onEvent((e) => events.push(e));
    const hold = deferred();
    const running = a.execute(() => hold.promise);
    const waiter = track(a.execute(async () => 'late'));
    clock.advance(99);
    await flush();
    expect(waiter.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(waiter.error).toBeInstanceOf(ConcurrencyLimitedError);
    expect(events).toMatchObject([{ type: 'rejected', reason: 'queue-timeout' }]);
    expect(a.snapshot()).toMatchObject({ queuedCalls: 0, rejectedCalls: 1 });
    hold.resolve();
    await running;
    expect(a.snapshot()).toMatchObject({ inflight: 0, admittedCalls: 1 });
  });

  it('rejects a waiter at its deadline when that comes before maxWaitMs', async () => {
    const { clock, a } = queued({ maxWaitMs: 1_000 });
    const hold = deferred();
    const running = a.execute(() => hold.promise);
    const waiter = track(a.execute(async () => 'late', { deadline: 30 }));
    clock.advance(29);
    await flush();
    expect(waiter.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(waiter.error).toBeInstanceOf(DeadlineExceededError);
    expect(a.queuedCalls).toBe(0);
    hold.resolve();
    await running;
  });

  it('removes a cancelled waiter from the queue at once, and the next waiter gets the slot', async () => {
    const { a } = queued();
    const hold = deferred();
    const running = a.execute(() => hold.promise);
    const controller = new AbortController();
    const cancelled = track(a.execute(async () => 'never', { signal: controller.signal }));
    const next = track(a.execute(async () => 'next'));
    await flush();
    expect(a.queuedCalls).toBe(2);
    controller.abort(new Error('gone'));
    await flush();
    expect(cancelled.error).toMatchObject({ message: 'gone' });
    expect(a.queuedCalls).toBe(1);
    hold.resolve();
    await running;
    await flush();
    expect(next).toMatchObject({ state: 'fulfilled', value: 'next' });
    expect(a.snapshot()).toMatchObject({ inflight: 0, queuedCalls: 0, admittedCalls: 2 });
  });

  it('does not admit waiters beyond a limit that shrank while they waited', async () => {
    const { clock, a } = queued({ initialLimit: 4 });
    const holds = Array.from({ length: 4 }, () => deferred());
    const running = holds.map((h) => a.execute(() => h.promise).catch(() => 'dropped'));
    let concurrent = 0;
    let peak = 0;
    const work = async () => {
      peak = Math.max(peak, ++concurrent);
      await flush(1);
      concurrent--;
    };
    const waiting = Array.from({ length: 3 }, () => a.execute(work));
    await flush();
    // One slow, dropped call ends the window: the limit halves from 4 to 2 while 3 are in flight.
    clock.advance(100);
    holds[0]!.reject(new DeadlineExceededError('slow'));
    await flush();
    expect(a.limit).toBe(2);
    expect(a.snapshot()).toMatchObject({ inflight: 3, queuedCalls: 3 });
    holds[1]!.resolve();
    await flush();
    expect(a.snapshot()).toMatchObject({ inflight: 2, queuedCalls: 3 });
    holds[2]!.resolve();
    holds[3]!.resolve();
    await Promise.all([...running, ...waiting]);
    expect(peak).toBeLessThanOrEqual(2);
    expect(a.snapshot()).toMatchObject({ inflight: 0, queuedCalls: 0, admittedCalls: 7 });
  });

  it('rejects a bad queue configuration naming the field', () => {
    expect(() => new AdaptiveConcurrency({ maxQueuedCalls: 1.5 })).toThrow(
      'AdaptiveConcurrency maxQueuedCalls should be an integer >= 0, got 1.5',
    );
    expect(() => new AdaptiveConcurrency({ maxWaitMs: -1 })).toThrow(
      'AdaptiveConcurrency maxWaitMs should be a number >= 0 (or Infinity), got -1',
    );
  });
});

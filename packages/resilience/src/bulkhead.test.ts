import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { Bulkhead } from './bulkhead.js';
import { BulkheadRejectedError } from './errors.js';
import type { ResilienceEvent } from './events.js';
import { deferred, flush, track } from './fixtures/helpers.js';

describe('Bulkhead', () => {
  it('runs at most maxConcurrentCalls at once and refuses the rest with a typed error', async () => {
    const b = new Bulkhead({ clock: new ManualClock(), name: 'db', maxConcurrentCalls: 2 });
    const events: ResilienceEvent[] = [];
    b.onEvent((e) => events.push(e));
    const gates = [deferred<number>(), deferred<number>()];
    const running = gates.map((g) => b.execute(() => g.promise));
    expect(b.activeCalls).toBe(2);
    const error = await b.execute(async () => 3).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BulkheadRejectedError);
    expect(error).toMatchObject({
      code: 'BULKHEAD_FULL',
      status: 503,
      data: { policy: 'db', maxConcurrentCalls: 2 },
    });
    expect(events).toMatchObject([{ type: 'rejected', reason: 'full', kind: 'bulkhead' }]);
    gates[0]!.resolve(1);
    gates[1]!.resolve(2);
    await expect(Promise.all(running)).resolves.toEqual([1, 2]);
    expect(b.snapshot()).toMatchObject({ activeCalls: 0, admittedCalls: 2, rejectedCalls: 1 });
  });

  it('admits calls run by callbacks (acquirePermission, onComplete) without ever queueing them', async () => {
    const b = new Bulkhead({ clock: new ManualClock(), maxConcurrentCalls: 2, maxQueuedCalls: 5 });
    b.acquirePermission();
    b.acquirePermission();
    // Full: refused at once, although execute would wait in the queue.
    expect(() => b.acquirePermission()).toThrow(BulkheadRejectedError);
    const waiting = b.execute(async () => 'queued');
    expect(b.snapshot()).toMatchObject({ activeCalls: 2, queuedCalls: 1, rejectedCalls: 1 });
    // A freed slot goes to the waiter first.
    b.onComplete();
    await expect(waiting).resolves.toBe('queued');
    b.acquirePermission();
    b.onComplete();
    b.onComplete();
    expect(b.snapshot()).toMatchObject({ activeCalls: 0, queuedCalls: 0, admittedCalls: 4 });
  });

  it('queues up to maxQueuedCalls in FIFO order and hands each freed slot to the oldest waiter', async () => {
    const b = new Bulkhead({ clock: new ManualClock(), maxConcurrentCalls: 1, maxQueuedCalls: 2 });
    const order: string[] = [];
    const first = deferred();
    const p1 = b.execute(async () => {
      order.push('a');
      await first.promise;
    });
    const p2 = b.execute(async () => order.push('b'));
    const p3 = b.execute(async () => order.push('c'));
    expect(b.snapshot()).toMatchObject({ activeCalls: 1, queuedCalls: 2 });
    await expect(b.execute(async () => 'd')).rejects.toBeInstanceOf(BulkheadRejectedError);
    first.resolve();
    await Promise.all([p1, p2, p3]);
    expect(order).toEqual(['a', 'b', 'c']);
    expect(b.snapshot()).toMatchObject({ activeCalls: 0, queuedCalls: 0 });
  });

  it('refuses a queued call that waited maxWaitMs', async () => {
    const clock = new ManualClock();
    const b = new Bulkhead({ clock, maxConcurrentCalls: 1, maxQueuedCalls: 1, maxWaitMs: 100 });
    const hold = deferred();
    const running = b.execute(() => hold.promise);
    const queued = track(b.execute(async () => 'late'));
    clock.advance(100);
    await flush();
    expect(queued.error).toMatchObject({ code: 'BULKHEAD_FULL' });
    expect(b.snapshot()).toMatchObject({ queuedCalls: 0, activeCalls: 1 });
    hold.resolve();
    await running;
  });

  it('bounds the wait by the deadline', async () => {
    const clock = new ManualClock(0);
    const b = new Bulkhead({ clock, maxConcurrentCalls: 1, maxQueuedCalls: 1 });
    const hold = deferred();
    const running = b.execute(() => hold.promise);
    const queued = track(b.execute(async () => 'late', { deadline: 50 }));
    clock.advance(50);
    await flush();
    expect(queued.error).toMatchObject({ code: 'DEADLINE_EXCEEDED' });
    hold.resolve();
    await running;
    expect(b.activeCalls).toBe(0);
  });

  it('drops a waiter whose caller cancels, without losing the slot', async () => {
    const b = new Bulkhead({ clock: new ManualClock(), maxConcurrentCalls: 1, maxQueuedCalls: 5 });
    const hold = deferred();
    const running = b.execute(() => hold.promise);
    const controller = new AbortController();
    const cancelled = track(b.execute(async () => 'never', { signal: controller.signal }));
    const next = b.execute(async () => 'next');
    controller.abort(new Error('gone'));
    await flush();
    expect(cancelled.error).toMatchObject({ message: 'gone' });
    expect(b.queuedCalls).toBe(1);
    hold.resolve();
    await expect(next).resolves.toBe('next');
    await running;
    expect(b.snapshot()).toMatchObject({ activeCalls: 0, queuedCalls: 0 });
  });

  it('releases the slot when the work throws synchronously', async () => {
    const b = new Bulkhead({ maxConcurrentCalls: 1 });
    await expect(
      b.execute(() => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(b.activeCalls).toBe(0);
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => new Bulkhead({ maxConcurrentCalls: 0 })).toThrow(
      'Bulkhead maxConcurrentCalls should be an integer >= 1, got 0',
    );
    expect(() => new Bulkhead({ maxQueuedCalls: -1 })).toThrow(
      'Bulkhead maxQueuedCalls should be an integer >= 0, got -1',
    );
    expect(() => new Bulkhead({ maxWaitMs: Number.NaN })).toThrow(
      'Bulkhead maxWaitMs should be a number >= 0 (or Infinity), got NaN',
    );
  });
});

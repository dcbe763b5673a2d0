import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { Bulkhead } from './bulkhead.js';
import { CancelledError } from './errors.js';
import type { ResilienceEvent } from './events.js';
import { deferred, flush, httpError, track } from './fixtures/helpers.js';
import { hedge } from './hedge.js';
import type { ExecutionContext } from './policy.js';
import { wrap } from './wrap.js';

function attempts() {
  const started: { ctx: ExecutionContext; d: ReturnType<typeof deferred<string>> }[] = [];
  const fn = (ctx: ExecutionContext) => {
    const d = deferred<string>();
    started.push({ ctx, d });
    return d.promise;
  };
  return { fn, started };
}

describe('hedge', () => {
  it('starts a second attempt after the delay; the first answer wins and the loser is cancelled', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delayMs: 50 });
    const events: ResilienceEvent[] = [];
    h.onEvent((e) => events.push(e));
    const { fn, started } = attempts();
    const result = track(h.execute(fn));
    await flush();
    expect(started).toHaveLength(1);
    const firstSignal = started[0]!.ctx.signal;
    clock.advance(50);
    await flush();
    expect(started).toHaveLength(2);
    expect(started.map((s) => s.ctx.attempt)).toEqual([1, 2]);
    started[1]!.d.resolve('second');
    await flush();
    expect(result).toMatchObject({ state: 'fulfilled', value: 'second' });
    expect(firstSignal.aborted).toBe(true);
    expect(firstSignal.reason).toBeInstanceOf(CancelledError);
    expect(started[1]!.ctx.signal.aborted).toBe(false);
    expect(events).toMatchObject([{ type: 'hedged', attempt: 2, delayMs: 50 }]);
    expect(h.snapshot()).toMatchObject({ calls: 1, hedges: 1, hedgeWins: 1 });
  });

  it('does not hedge a call that answers before the delay', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delayMs: 50 });
    const { fn, started } = attempts();
    const result = track(h.execute(fn));
    await flush();
    started[0]!.d.resolve('fast');
    await flush();
    clock.advance(100);
    await flush();
    expect(started).toHaveLength(1);
    expect(result.value).toBe('fast');
  });

  it('never hedges a call that is not idempotent', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delayMs: 50 });
    const { fn, started } = attempts();
    track(h.execute(fn, { idempotent: false }));
    clock.advance(500);
    await flush();
    expect(started).toHaveLength(1);
  });

  it('waits for the other attempt when one fails, and fails only when all have failed', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delayMs: 10 });
    const { fn, started } = attempts();
    const result = track(h.execute(fn));
    clock.advance(10);
    await flush();
    started[0]!.d.reject(httpError(503));
    await flush();
    expect(result.state).toBe('pending');
    started[1]!.d.reject(httpError(502));
    await flush();
    expect(result.error).toMatchObject({ status: 502 });
  });

  it('releases the bulkhead slot of the cancelled loser', async () => {
    const clock = new ManualClock();
    const b = new Bulkhead({ clock, maxConcurrentCalls: 5 });
    const p = wrap(hedge({ clock, delayMs: 10 }), b);
    const { fn, started } = attempts();
    const result = track(p.execute(fn));
    clock.advance(10);
    await flush();
    expect(b.activeCalls).toBe(2);
    started[0]!.d.resolve('first');
    await flush();
    expect(result.value).toBe('first');
    expect(b.activeCalls).toBe(0);
  });
});

describe('hedge with a percentile delay', () => {
  /** Runs `n` calls whose first attempt answers after `ms` (and wins, should a hedge have started). */
  async function answerAfter(h: ReturnType<typeof hedge>, clock: ManualClock, ms: number, n: number) {
    for (let i = 0; i < n; i++) {
      const { fn, started } = attempts();
      const result = track(h.execute(fn));
      await flush(1);
      clock.advance(ms);
      started[0]!.d.resolve('first');
      await flush(1);
      expect(result.value).toBe('first');
    }
  }

  it('uses the initial delay until enough successful attempts were measured', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delay: { percentile: 95, minMs: 5, initialMs: 200, minSamples: 10 } });
    expect(h.delayMs).toBe(200);
    await answerAfter(h, clock, 20, 9);
    expect(h.delayMs).toBe(200);
    await answerAfter(h, clock, 20, 1);
    expect(h.delayMs).toBeGreaterThanOrEqual(20);
    expect(h.delayMs).toBeLessThan(21);
  });

  it('falls back to minMs before the first samples when no initial delay is given', () => {
    const h = hedge({ clock: new ManualClock(), delay: { percentile: 95, minMs: 30 } });
    expect(h.snapshot().delayMs).toBe(30);
  });

  it('hedges after the measured p95 of recent attempts, and follows the latency as it moves', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delay: { percentile: 95, window: 20, minSamples: 20, initialMs: 1_000 } });
    await answerAfter(h, clock, 10, 19);
    await answerAfter(h, clock, 100, 1);
    // 19 of 20 attempts took 10 ms: the 95th percentile is 10 ms (within the 5 % bucket width).
    expect(h.delayMs).toBeGreaterThanOrEqual(10);
    expect(h.delayMs).toBeLessThan(10.5);
    await answerAfter(h, clock, 40, 20);
    // The window holds only the last 20 attempts: the old 10 ms ones are gone.
    expect(h.delayMs).toBeGreaterThanOrEqual(40);
    expect(h.delayMs).toBeLessThan(42);

    const { fn, started } = attempts();
    const result = track(h.execute(fn));
    await flush(1);
    clock.advance(39);
    await flush(1);
    expect(started).toHaveLength(1);
    clock.advance(3);
    await flush(1);
    expect(started).toHaveLength(2);
    started[1]!.d.resolve('hedge');
    await flush(1);
    expect(result.value).toBe('hedge');
    expect(started[0]!.ctx.signal.aborted).toBe(true);
    expect(started[0]!.ctx.signal.reason).toBeInstanceOf(CancelledError);
  });

  it('keeps the measured delay within minMs and maxMs', async () => {
    const clock = new ManualClock();
    const h = hedge({ clock, delay: { percentile: 50, minMs: 20, maxMs: 60, window: 5, minSamples: 5 } });
    await answerAfter(h, clock, 1, 5);
    expect(h.delayMs).toBe(20);
    await answerAfter(h, clock, 500, 3);
    expect(h.delayMs).toBe(60);
  });

  it('rejects a bad delay naming the field', () => {
    expect(() => hedge({ delay: { percentile: 0 } })).toThrow(
      'Hedge delay.percentile should be in (0, 100], got 0',
    );
    expect(() => hedge({ delay: { percentile: 95, minMs: 50, maxMs: 10 } })).toThrow(
      'Hedge delay.maxMs should be a number >= 50 (or Infinity), got 10',
    );
    expect(() => hedge({ delay: { percentile: 95, window: 0 } })).toThrow(
      'Hedge delay.window should be an integer >= 1, got 0',
    );
    expect(() => hedge({ delayMs: 10, delay: { percentile: 95 } })).toThrow(
      'Hedge delayMs should be left out when a percentile delay is given, got 10',
    );
    expect(() => hedge({})).toThrow('Hedge delayMs should be a number >= 0, got undefined');
  });
});

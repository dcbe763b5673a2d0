import { ManualClock, TimeoutError } from '@flotilla/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DeadlineExceededError } from './errors.js';
import type { ResilienceEvent } from './events.js';
import { deferred, flush, track } from './fixtures/helpers.js';
import type { ExecutionContext } from './policy.js';
import { retry } from './retry.js';
import { timeout } from './timeout.js';
import { wrap } from './wrap.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('timeout', () => {
  it('rejects with DeadlineExceededError at the deadline and aborts the work with the same error', async () => {
    const clock = new ManualClock(1_000);
    const t = timeout(500, { clock, name: 'catalog-timeout' });
    const events: ResilienceEvent[] = [];
    t.onEvent((e) => events.push(e));
    let seen: ExecutionContext | undefined;
    const result = track(
      t.execute((ctx) => {
        seen = ctx;
        return new Promise(() => {});
      }),
    );
    expect(seen?.deadline).toBe(1_500);
    const signal = seen!.signal;
    clock.advance(499);
    await flush();
    expect(result.state).toBe('pending');
    clock.advance(1);
    await flush();
    expect(result.state).toBe('rejected');
    expect(result.error).toBeInstanceOf(DeadlineExceededError);
    expect(result.error).toBeInstanceOf(TimeoutError);
    expect(result.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', status: 504, retryable: true });
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(result.error);
    expect(events).toMatchObject([{ type: 'timed-out', timeoutMs: 500, deadline: 1_500 }]);
    expect(t.snapshot()).toMatchObject({ timeouts: 1, deadlineExceeded: 0 });
  });

  it('gives the work the earlier of its own timeout and the caller deadline', async () => {
    const clock = new ManualClock(0);
    const t = timeout(500, { clock });
    const seen: (number | undefined)[] = [];
    await t.execute((ctx) => seen.push(ctx.deadline), { deadline: 200 });
    await t.execute((ctx) => seen.push(ctx.deadline), { deadline: 900 });
    expect(seen).toEqual([200, 500]);
  });

  it('makes an expired inherited deadline non-retryable and counts it apart', async () => {
    const clock = new ManualClock(0);
    const t = timeout(500, { clock });
    const result = track(t.execute(() => new Promise(() => {}), { deadline: 100 }));
    clock.advance(100);
    await flush();
    expect(result.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false });
    expect(t.snapshot()).toMatchObject({ timeouts: 0, deadlineExceeded: 1 });
  });

  it('refuses at once, without running the work, when the deadline has already passed', async () => {
    const clock = new ManualClock(1_000);
    let ran = false;
    const p = timeout(500, { clock }).execute(
      () => {
        ran = true;
      },
      { deadline: 1_000 },
    );
    await expect(p).rejects.toBeInstanceOf(DeadlineExceededError);
    expect(ran).toBe(false);
  });

  it('ignores a result that arrives after the deadline', async () => {
    const clock = new ManualClock();
    const late = deferred<string>();
    const result = track(timeout(10, { clock }).execute(() => late.promise));
    clock.advance(10);
    await flush();
    late.resolve('too late');
    await flush();
    expect(result.state).toBe('rejected');
  });

  it('gives each retry attempt a fresh timeout within the overall deadline', async () => {
    const clock = new ManualClock(0);
    const p = wrap(retry({ clock, maxAttempts: 5, backoff: { initialDelayMs: 0 } }), timeout(100, { clock }));
    const deadlines: (number | undefined)[] = [];
    const signals: AbortSignal[] = [];
    const result = track(
      p.execute(
        (ctx) => {
          deadlines.push(ctx.deadline);
          signals.push(ctx.signal);
          return new Promise(() => {});
        },
        { deadline: 250 },
      ),
    );
    for (let i = 0; i < 5; i++) {
      clock.advance(100);
      await flush();
    }
    expect(deadlines).toEqual([100, 200, 250]);
    expect(signals.map((s) => s.aborted)).toEqual([true, true, true]);
    expect(result.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false });
  });

  it('aborts with the caller signal reason when the caller cancels', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    let inner: AbortSignal | undefined;
    const result = track(
      timeout(1_000, { clock }).execute(
        (ctx) => {
          inner = ctx.signal;
          return new Promise(() => {});
        },
        { signal: controller.signal },
      ),
    );
    const reason = new Error('client went away');
    controller.abort(reason);
    await flush();
    expect(result.error).toBe(reason);
    expect(inner?.aborted).toBe(true);
    expect(inner?.reason).toBe(reason);
  });

  it('works with vitest fake timers on the default clock', async () => {
    vi.useFakeTimers({ now: 5_000 });
    const result = track(timeout(100).execute(() => new Promise(() => {})));
    await vi.advanceTimersByTimeAsync(99);
    expect(result.state).toBe('pending');
    await vi.advanceTimersByTimeAsync(1);
    expect(result.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', data: { deadline: 5_100 } });
  });

  it('enforces the caller deadline even without a timeout policy in the pipeline', async () => {
    const clock = new ManualClock(0);
    const result = track(retry({ clock }).execute(() => new Promise(() => {}), { deadline: 100 }));
    clock.advance(100);
    await flush();
    expect(result.error).toMatchObject({ code: 'DEADLINE_EXCEEDED', retryable: false });
  });

  it('rejects bad configuration naming the field', () => {
    expect(() => timeout(0)).toThrow('Timeout ms should be > 0, got 0');
    expect(() => timeout(Number.NaN)).toThrow('Timeout ms should be > 0, got NaN');
  });
});

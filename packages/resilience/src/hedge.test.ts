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

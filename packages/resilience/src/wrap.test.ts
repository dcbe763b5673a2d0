import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker/circuit-breaker.js';
import { Bulkhead } from './bulkhead.js';
import type { EventListener, ResilienceEvent } from './events.js';
import { flush, httpError, seeded, track } from './fixtures/helpers.js';
import type { ExecuteOptions, ExecutionContext, Policy, Work } from './policy.js';
import { Retry } from './retry.js';
import { TimeoutPolicy } from './timeout.js';
import { wrap } from './wrap.js';

function policies(clock: ManualClock) {
  return {
    retry: new Retry({
      clock,
      maxAttempts: 3,
      budget: false,
      backoff: { initialDelayMs: 10, jitter: 'none' },
    }),
    breaker: new CircuitBreaker({
      clock,
      slidingWindowSize: 8,
      minimumNumberOfCalls: 4,
      waitDurationInOpenStateMs: 50,
      permittedNumberOfCallsInHalfOpenState: 2,
    }),
    bulkhead: new Bulkhead({ clock, maxConcurrentCalls: 2 }),
    timeout: new TimeoutPolicy(30, { clock }),
  };
}

describe('wrap', () => {
  it('applies policies outermost first: a breaker inside a retry sees every attempt', async () => {
    const clock = new ManualClock();
    const a = policies(clock);
    const result = track(wrap(a.retry, a.breaker).execute(() => Promise.reject(httpError(503))));
    for (let i = 0; i < 5; i++) {
      clock.advance(50);
      await flush();
    }
    expect(result.state).toBe('rejected');
    expect(a.breaker.snapshot().failedCalls).toBe(3);

    const b = policies(clock);
    const outer = track(wrap(b.breaker, b.retry).execute(() => Promise.reject(httpError(503))));
    for (let i = 0; i < 5; i++) {
      clock.advance(50);
      await flush();
    }
    expect(outer.state).toBe('rejected');
    expect(b.breaker.snapshot().failedCalls).toBe(1);
  });

  it('behaves exactly like the same policies nested by hand, over random call sequences', async () => {
    const seen = new Set<string>();
    for (let seed = 1; seed <= 15; seed++) {
      const runs = [] as { results: string[]; snapshots: unknown }[];
      for (const mode of ['wrap', 'nested'] as const) {
        const clock = new ManualClock(0);
        const random = seeded(seed);
        const p = policies(clock);
        const run = <T>(fn: Work<T>): Promise<T> =>
          mode === 'wrap'
            ? wrap(p.retry, p.breaker, p.bulkhead, p.timeout).execute(fn)
            : p.retry.execute((c1) =>
                p.breaker.execute((c2) => p.bulkhead.execute((c3) => p.timeout.execute(fn, c3), c2), c1),
              );
        const results: string[] = [];
        for (let call = 0; call < 60; call++) {
          // Each attempt: succeed, fail with 503 or 404, or hang until its timeout.
          const fn = () => {
            const r = random();
            if (r < 0.4) return Promise.resolve('ok');
            if (r < 0.7) return Promise.reject(httpError(503));
            if (r < 0.8) return Promise.reject(httpError(404));
            return new Promise<string>(() => {});
          };
          const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () => track(run(fn)));
          for (let i = 0; i < 12; i++) {
            clock.advance(10);
            await flush(2);
          }
          for (const r of batch) {
            results.push(
              r.state === 'fulfilled' ? String(r.value) : ((r.error as { code?: string })?.code ?? r.state),
            );
          }
        }
        runs.push({
          results,
          snapshots: [p.retry, p.breaker, p.bulkhead, p.timeout].map((x) => x.snapshot()),
        });
      }
      expect(runs[0]!.results, `seed ${seed}`).toEqual(runs[1]!.results);
      expect(runs[0]!.snapshots, `seed ${seed}`).toEqual(runs[1]!.snapshots);
      for (const r of runs[0]!.results) seen.add(r);
    }
    // The sequences reach every path: success, 4xx/5xx, timeouts, open breaker, full bulkhead.
    expect([...seen].sort()).toEqual([
      'BULKHEAD_FULL',
      'CIRCUIT_OPEN',
      'DEADLINE_EXCEEDED',
      'HTTP_404',
      'HTTP_503',
      'ok',
    ]);
  });

  it('gives the same results on its fast path (no deadline, no signal) as on its full path', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const runs = [] as { results: string[]; snapshots: unknown }[];
      for (const mode of ['fast', 'full'] as const) {
        const clock = new ManualClock(0);
        const random = seeded(seed);
        const p = policies(clock);
        const pipeline = wrap(p.retry, p.breaker, p.bulkhead);
        // A caller signal that never aborts forces the full state machine.
        const options = mode === 'full' ? { signal: new AbortController().signal } : undefined;
        const results: string[] = [];
        for (let call = 0; call < 80; call++) {
          const fn = () => {
            const r = random();
            if (r < 0.45) return Promise.resolve('ok');
            if (r < 0.85) return Promise.reject(httpError(503));
            return Promise.reject(httpError(404));
          };
          const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
            track(pipeline.execute(fn, options)),
          );
          for (let i = 0; i < 8; i++) {
            clock.advance(10);
            await flush(2);
          }
          for (const r of batch) {
            results.push(
              r.state === 'fulfilled' ? String(r.value) : ((r.error as { code?: string })?.code ?? r.state),
            );
          }
        }
        runs.push({ results, snapshots: [p.retry, p.breaker, p.bulkhead].map((x) => x.snapshot()) });
      }
      expect(runs[0]!.results, `seed ${seed}`).toEqual(runs[1]!.results);
      expect(runs[0]!.snapshots, `seed ${seed}`).toEqual(runs[1]!.snapshots);
    }
  });

  it('composes a policy that only implements the Policy interface', async () => {
    const clock = new ManualClock(0);
    const seen: string[] = [];
    const logging: Policy = {
      kind: 'fallback',
      name: 'logging',
      execute<T>(fn: Work<T>, options?: ExecuteOptions | ExecutionContext): Promise<T> {
        seen.push(`deadline ${options?.deadline}`);
        const ctx: ExecutionContext = { signal: new AbortController().signal, attempt: 1, deadline: 40 };
        return Promise.resolve(fn(ctx));
      },
      onEvent: () => () => {},
      snapshot: () => ({ kind: 'fallback', name: 'logging', fallbacks: 0 }),
    };
    const p = wrap(new TimeoutPolicy(100, { clock }), logging, new Retry({ clock }));
    const deadline = await p.execute((ctx) => ctx.deadline);
    expect(seen).toEqual(['deadline 100']);
    expect(deadline).toBe(40);
  });

  it('reports the events and snapshots of all its policies', async () => {
    const clock = new ManualClock();
    const p = policies(clock);
    p.breaker.transitionToForcedOpenState();
    const pipeline = wrap(p.retry, p.breaker);
    const events: ResilienceEvent[] = [];
    const listener: EventListener = (e) => events.push(e);
    const off = pipeline.onEvent(listener);
    await pipeline.execute(async () => 1).catch(() => 0);
    off();
    await pipeline.execute(async () => 1).catch(() => 0);
    expect(events.map((e) => `${e.kind}:${e.type}`)).toEqual(['circuit-breaker:rejected', 'retry:gave-up']);
    expect(pipeline.snapshot().policies.map((s) => s.kind)).toEqual(['retry', 'circuit-breaker']);
    expect(wrap(pipeline, p.timeout).policies).toHaveLength(3);
  });

  it('leaves nothing behind after many calls (no pending deadlines, no held slots)', async () => {
    const clock = new ManualClock();
    const p = policies(clock);
    const pipeline = wrap(p.retry, p.breaker, p.bulkhead, p.timeout);
    for (let i = 0; i < 1_000; i++) await pipeline.execute(async (ctx) => ctx.signal.aborted);
    expect(p.bulkhead.activeCalls).toBe(0);
    clock.advance(1_000);
    expect(clock.pending).toBe(0);
  });
});

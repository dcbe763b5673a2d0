import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from './breaker/circuit-breaker.js';
import { Bulkhead } from './bulkhead.js';
import type { ResilienceEvent } from './events.js';
import { Fallback } from './fallback.js';
import { flush, httpError, seeded, track } from './fixtures/helpers.js';
import type { Policy, Work } from './policy.js';
import { Retry } from './retry.js';

// A policy executed alone without options takes its own fast path; with options (even `{}`) it
// goes through the shared engine. Both must be indistinguishable to the caller.

type Make = (clock: ManualClock) => Policy;

/**
 * Policies whose fast path may settle concurrent calls in a different microtask order than the
 * engine: the fallback answers an asynchronous failure one promise hop earlier (the engine awaits
 * the work in an async frame first), so among calls of one batch that fail in the same turn the
 * `fallback` events may interleave differently. It keeps no state that the order could change;
 * each call's outcome and the events of each batch are still compared.
 */
const unorderedWithinBatch = new Set(['fallback']);

const policies: Record<string, Make> = {
  'count-window breaker': (clock) =>
    new CircuitBreaker({
      clock,
      slidingWindowSize: 8,
      minimumNumberOfCalls: 4,
      slowCallDurationThresholdMs: 25,
      slowCallRateThreshold: 50,
      waitDurationInOpenStateMs: 50,
      permittedNumberOfCallsInHalfOpenState: 2,
    }),
  'count-window breaker without slow-call detection': (clock) =>
    new CircuitBreaker({
      clock,
      slidingWindowSize: 8,
      minimumNumberOfCalls: 4,
      slowCallDurationThresholdMs: Number.POSITIVE_INFINITY,
      waitDurationInOpenStateMs: 50,
      permittedNumberOfCallsInHalfOpenState: 2,
    }),
  'time-window breaker': (clock) =>
    new CircuitBreaker({
      clock,
      slidingWindowType: 'TIME_BASED',
      slidingWindowSize: 1,
      minimumNumberOfCalls: 3,
      slowCallDurationThresholdMs: 25,
      waitDurationInOpenStateMs: 50,
    }),
  bulkhead: (clock) => new Bulkhead({ clock, maxConcurrentCalls: 2 }),
  retry: (clock) =>
    new Retry({
      clock,
      maxAttempts: 3,
      backoff: { initialDelayMs: 10, jitter: 'none' },
      budget: { ratio: 0.5, minRetriesPerSecond: 1 },
    }),
  'retry without backoff': (clock) => new Retry({ clock, maxAttempts: 2, backoff: { initialDelayMs: 0 } }),
  fallback: (clock) => new Fallback((error) => `fallback for ${describeError(error)}`, { clock }),
};

function describeError(error: unknown): string {
  if (typeof error !== 'object' || error === null) return String(error);
  const e = error as { code?: string; status?: number; message?: string };
  return `${e.code ?? 'no-code'}/${e.status ?? '-'}/${e.message ?? String(error)}`;
}

function describeEvent(event: ResilienceEvent): string {
  const { policy: _policy, error, ...rest } = event as ResilienceEvent & { error?: unknown };
  return JSON.stringify({ ...rest, error: error === undefined ? undefined : describeError(error) });
}

/** Runs one random sequence of calls; returns everything a caller could observe. */
async function observe(make: Make, seed: number, fast: boolean, ordered: boolean) {
  const clock = new ManualClock(1_000);
  const random = seeded(seed);
  const policy = make(clock);
  const log: string[] = [];
  let events: string[] = [];
  policy.onEvent((event) => events.push(describeEvent(event)));
  for (let call = 0; call < 80; call++) {
    // Each attempt: resolve, resolve slowly, reject (retryable or not), throw synchronously,
    // or return a plain value.
    const fn: Work<string> = (ctx) => {
      const r = random();
      if (r < 0.3) return Promise.resolve(`ok ${ctx.attempt}`);
      if (r < 0.4) {
        clock.advance(30);
        return Promise.resolve(`slow ${ctx.attempt}`);
      }
      if (r < 0.6) return Promise.reject(httpError(503));
      if (r < 0.7) return Promise.reject(httpError(404));
      if (r < 0.8) throw new Error('bug');
      if (r < 0.9) throw httpError(502);
      return `plain ${ctx.attempt} ${ctx.deadline} ${ctx.signal.aborted}`;
    };
    const batch = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
      track(fast ? policy.execute(fn) : policy.execute(fn, {})),
    );
    for (let i = 0; i < 4; i++) {
      clock.advance(Math.floor(random() * 20));
      await flush(2);
    }
    log.push(...(ordered ? events : events.sort()));
    events = [];
    for (const t of batch) {
      log.push(t.state === 'fulfilled' ? `= ${String(t.value)}` : `${t.state} ${describeError(t.error)}`);
    }
    log.push(JSON.stringify(policy.snapshot()));
  }
  return log;
}

describe('single-policy fast paths', () => {
  for (const [name, make] of Object.entries(policies)) {
    it(`${name}: executing alone gives the same outcomes, events and snapshots as the engine`, async () => {
      for (let seed = 1; seed <= 8; seed++) {
        const ordered = !unorderedWithinBatch.has(name);
        const fast = await observe(make, seed, true, ordered);
        const general = await observe(make, seed, false, ordered);
        expect(fast).toEqual(general);
      }
    });
  }

  it('exercises every outcome: admissions refused, retries, fallbacks and slow calls', async () => {
    const seen = new Set<string>();
    for (const make of Object.values(policies)) {
      for (let seed = 1; seed <= 8; seed++) {
        for (const line of await observe(make, seed, true, true)) {
          const m = /"type":"([a-z-]+)"(?:.*"reason":"([a-z-]+)")?/.exec(line);
          if (m) seen.add(`${m[1]}${m[2] ? `:${m[2]}` : ''}`);
          if (/"slowCalls":[1-9]/.test(line)) seen.add('slow');
        }
      }
    }
    for (const expected of [
      'state-change',
      'rejected:open',
      'rejected:full',
      'retried',
      'gave-up:attempts',
      'gave-up:not-retryable',
      'fallback',
      'slow',
    ]) {
      expect(seen).toContain(expected);
    }
  });
});

import { type Clock, systemClock } from '@flotilla/core';
import { RollingCounters } from './internal/rolling-counters.js';
import { checkInt, checkMin, checkRange } from './internal/validate.js';

export interface RetryBudgetOptions {
  /** Retries allowed as a fraction of calls in the window. Default 0.2 (Finagle). */
  ratio?: number;
  /** Retries always allowed per second, so a quiet service can still retry. Default 10 (Finagle). */
  minRetriesPerSecond?: number;
  /** Length of the sliding window. Default 10 000 ms (Finagle's ttl). */
  windowMs?: number;
  /** Buckets the window is divided into. Default 10. */
  buckets?: number;
  clock?: Clock;
}

export interface RetryBudgetSnapshot {
  calls: number;
  retries: number;
  /** Retries that may still be made in the current window. */
  available: number;
}

const CALLS = 0;
const RETRIES = 1;

/**
 * Retry budget in the style of Finagle's `RetryBudget`: over a sliding window, retries may be at
 * most `ratio` of calls, plus a floor of `minRetriesPerSecond`. When a dependency fails for
 * everyone, retries stay a fixed fraction of the load instead of multiplying it at every layer.
 * One budget may be shared by several retry policies (for example all routes to one service).
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minRetriesPerSecond: number;
  readonly windowMs: number;
  private readonly counters: RollingCounters;
  private readonly clock: Clock;
  private readonly reserve: number;

  constructor(options: RetryBudgetOptions = {}) {
    this.ratio = checkRange('RetryBudget', 'ratio', options.ratio ?? 0.2, 0, 1000);
    this.minRetriesPerSecond = checkMin(
      'RetryBudget',
      'minRetriesPerSecond',
      options.minRetriesPerSecond ?? 10,
      0,
    );
    this.windowMs = checkMin('RetryBudget', 'windowMs', options.windowMs ?? 10_000, 1);
    const buckets = checkInt('RetryBudget', 'buckets', options.buckets ?? 10, 1);
    this.counters = new RollingCounters(2, buckets, this.windowMs / buckets);
    this.clock = options.clock ?? systemClock;
    this.reserve = (this.minRetriesPerSecond * this.windowMs) / 1000;
  }

  /** Counts one call (not retry) at `now`. */
  recordCall(now: number = this.clock.now()): void {
    this.counters.add(now, CALLS);
  }

  /** Takes one retry from the budget if there is room; false means "do not retry". */
  tryWithdraw(now: number = this.clock.now()): boolean {
    const c = this.counters;
    c.advance(now);
    if (c.totals[RETRIES]! + 1 > this.reserve + this.ratio * c.totals[CALLS]!) return false;
    c.add(now, RETRIES);
    return true;
  }

  snapshot(now: number = this.clock.now()): RetryBudgetSnapshot {
    const c = this.counters;
    c.advance(now);
    const calls = c.totals[CALLS]!;
    const retries = c.totals[RETRIES]!;
    return {
      calls,
      retries,
      available: Math.max(0, Math.floor(this.reserve + this.ratio * calls - retries)),
    };
  }
}

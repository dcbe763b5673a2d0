import { RollingCounters } from '../internal/rolling-counters.js';
import type { SlidingWindow } from './sliding-window.js';

const CALLS = 0;
const FAILURES = 1;
const SLOW = 2;

/**
 * Outcomes of the last `sizeMs`, in buckets of `bucketMs` (resilience4j: one-second buckets).
 * A call is counted in the bucket of the time its outcome was recorded.
 */
export class TimeWindow implements SlidingWindow {
  readonly capacity = Number.POSITIVE_INFINITY;
  private readonly counters: RollingCounters;

  constructor(sizeMs: number, bucketMs = 1000) {
    this.counters = new RollingCounters(3, Math.max(1, Math.ceil(sizeMs / bucketMs)), bucketMs);
  }

  get calls(): number {
    return this.counters.totals[CALLS]!;
  }

  get failures(): number {
    return this.counters.totals[FAILURES]!;
  }

  get slowCalls(): number {
    return this.counters.totals[SLOW]!;
  }

  record(now: number, failed: boolean, slow: boolean): void {
    const c = this.counters;
    c.add(now, CALLS);
    if (failed) c.add(now, FAILURES);
    if (slow) c.add(now, SLOW);
  }

  advance(now: number): void {
    this.counters.advance(now);
  }

  reset(): void {
    this.counters.reset();
  }
}

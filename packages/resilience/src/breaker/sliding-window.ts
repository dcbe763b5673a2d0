/** Outcome aggregates of a circuit breaker's sliding window. */
export interface SlidingWindow {
  /** Recorded calls in the window (as of the last `record` or `advance`). */
  readonly calls: number;
  readonly failures: number;
  readonly slowCalls: number;
  /** Largest number of calls the window can hold (Infinity for time windows). */
  readonly capacity: number;
  /** Records one outcome at `now`. O(1). */
  record(now: number, failed: boolean, slow: boolean): void;
  /** Brings the aggregates up to `now` (time windows drop expired buckets). */
  advance(now: number): void;
  reset(): void;
}

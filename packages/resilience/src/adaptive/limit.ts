/** What a concurrency-limit algorithm learns from one sampling window. */
export interface LimitSample {
  /** Average round-trip time of the window's calls, in ms. */
  rttMs: number;
  /** Highest number of calls in flight during the window. */
  inflight: number;
  /** Whether a call of the window was dropped (timed out, or shed by the dependency). */
  dropped: boolean;
}

/** A concurrency-limit algorithm (Netflix concurrency-limits' `Limit`). */
export interface ConcurrencyLimit {
  /** Current limit (may be fractional; the limiter admits `floor(limit)` calls). */
  readonly limit: number;
  /** Feeds one window's sample; returns the new limit. */
  update(sample: LimitSample): number;
}

/** The answer of a rate limiter for one request. */
export interface RateLimitDecision {
  allowed: boolean;
  /** When refused: milliseconds until a permit is expected. 0 when allowed. */
  retryAfterMs: number;
  /** Permits left right after this decision (a lower bound). */
  remaining: number;
}

export interface RateLimiterSnapshot {
  kind: 'rate-limiter';
  name: string;
  algorithm: 'token-bucket' | 'redis-gcra';
  /** Permits per period. */
  limit: number;
  periodMs: number;
  /** Permits that may be taken at once. */
  burst: number;
  /** Local limiters: permits available now in the default (unkeyed) bucket. */
  availableTokens: number | undefined;
  /** Local limiters: buckets held for keys. */
  keys: number | undefined;
  permittedCalls: number;
  rejectedCalls: number;
  /** Distributed limiters: calls decided without Redis because it failed. */
  backendErrors: number;
}

/** Common options of rate limiters. */
export interface RateLimitOptions {
  /** Permits per period. */
  limit: number;
  /** Length of the period. Default 1 000 ms. */
  periodMs?: number;
  /** Permits that may be taken at once (bucket size). Default: `limit`. */
  burst?: number;
}

import {
  FlotillaError,
  type FlotillaErrorOptions,
  hasErrorCode,
  registerErrorClass,
  TimeoutError,
} from '@flotilla/core';

/**
 * Typed rejections of the resilience policies. Each one is a `FlotillaError` with a stable code,
 * registered with `registerErrorClass` so it is rebuilt by class on the far side of a hop.
 */

/** The circuit breaker refused the call (OPEN, FORCED_OPEN, or HALF_OPEN with no permits left). */
export class BrokenCircuitError extends FlotillaError {
  static override readonly defaultCode = 'CIRCUIT_OPEN';
  static override readonly defaultStatus = 503;
  static override readonly defaultRetryable = false;
}

/** The bulkhead had no free slot and no room (or no time) in its queue. */
export class BulkheadRejectedError extends FlotillaError {
  static override readonly defaultCode = 'BULKHEAD_FULL';
  static override readonly defaultStatus = 503;
  static override readonly defaultRetryable = true;
}

/** The adaptive concurrency limiter shed the call: in-flight calls reached the current limit. */
export class ConcurrencyLimitedError extends FlotillaError {
  static override readonly defaultCode = 'CONCURRENCY_LIMITED';
  static override readonly defaultStatus = 503;
  static override readonly defaultRetryable = true;
}

/** A rate limiter refused the call; `retryAfterMs` says when a permit is expected. */
export class RateLimitedError extends FlotillaError {
  static override readonly defaultCode = 'RATE_LIMITED';
  static override readonly defaultStatus = 429;
  static override readonly defaultRetryable = true;

  /** Milliseconds until the limiter expects to admit a call again. */
  readonly retryAfterMs: number;

  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, options);
    const after = options.data?.retryAfterMs;
    this.retryAfterMs = typeof after === 'number' && after > 0 ? after : 0;
  }
}

/**
 * The call's deadline passed. It is a `TimeoutError` (so code that handles timeouts handles it)
 * with its own code. A per-attempt timeout is retryable; an expired end-to-end deadline is not,
 * because no later attempt can finish before it.
 */
export class DeadlineExceededError extends TimeoutError {
  static override readonly defaultCode = 'DEADLINE_EXCEEDED';
  static override readonly defaultStatus = 504;
  static override readonly defaultRetryable = true;
}

/**
 * The error of an attempt that ran out of time: its timeout policy's (`timeout`, retryable: a
 * later attempt may still finish in time), or the caller's `deadline` (not retryable: no later
 * attempt can finish before it). What the pipeline raises; exported for callers that run their
 * attempts themselves (the gateway's fast path).
 */
export function timedOut(
  deadline: number,
  timeout?: { readonly name: string; readonly ms: number },
): DeadlineExceededError {
  if (timeout !== undefined) {
    return new DeadlineExceededError(`${timeout.name}: attempt timed out after ${timeout.ms} ms`, {
      data: { policy: timeout.name, timeoutMs: timeout.ms, deadline },
    });
  }
  return new DeadlineExceededError(`deadline ${deadline} exceeded`, { retryable: false, data: { deadline } });
}

/** The attempt was abandoned on purpose (the losing attempt of a hedge). Never a failure. */
export class CancelledError extends FlotillaError {
  static override readonly defaultCode = 'CANCELLED';
  static override readonly defaultStatus = 499;
  static override readonly defaultRetryable = false;
}

for (const ctor of [
  BrokenCircuitError,
  BulkheadRejectedError,
  ConcurrencyLimitedError,
  RateLimitedError,
  DeadlineExceededError,
  CancelledError,
]) {
  registerErrorClass(ctor);
}

/** True when `error` is a `BrokenCircuitError`, from any copy of this package. */
export function isBrokenCircuitError(error: unknown): error is BrokenCircuitError {
  return hasErrorCode(error, 'CIRCUIT_OPEN');
}

/** True when `error` is a `BulkheadRejectedError`, from any copy of this package. */
export function isBulkheadRejectedError(error: unknown): error is BulkheadRejectedError {
  return hasErrorCode(error, 'BULKHEAD_FULL');
}

/** True when `error` is a `RateLimitedError`, from any copy of this package. */
export function isRateLimitedError(error: unknown): error is RateLimitedError {
  return hasErrorCode(error, 'RATE_LIMITED');
}

/** True when `error` is a `DeadlineExceededError`, from any copy of this package. */
export function isDeadlineExceededError(error: unknown): error is DeadlineExceededError {
  return hasErrorCode(error, 'DEADLINE_EXCEEDED');
}

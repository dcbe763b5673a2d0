import { errorToProblem, restoreError, serializeError, TimeoutError } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import {
  BrokenCircuitError,
  BulkheadRejectedError,
  CancelledError,
  ConcurrencyLimitedError,
  DeadlineExceededError,
  isDeadlineExceededError,
  isRateLimitedError,
  RateLimitedError,
} from './errors.js';

describe('resilience errors', () => {
  it('carry stable codes and statuses', () => {
    expect(
      [
        new BrokenCircuitError('x'),
        new BulkheadRejectedError('x'),
        new ConcurrencyLimitedError('x'),
        new RateLimitedError('x'),
        new DeadlineExceededError('x'),
        new CancelledError('x'),
      ].map((e) => [e.name, e.code, e.status, e.retryable]),
    ).toEqual([
      ['BrokenCircuitError', 'CIRCUIT_OPEN', 503, false],
      ['BulkheadRejectedError', 'BULKHEAD_FULL', 503, true],
      ['ConcurrencyLimitedError', 'CONCURRENCY_LIMITED', 503, true],
      ['RateLimitedError', 'RATE_LIMITED', 429, true],
      ['DeadlineExceededError', 'DEADLINE_EXCEEDED', 504, true],
      ['CancelledError', 'CANCELLED', 499, false],
    ]);
    expect(new DeadlineExceededError('x')).toBeInstanceOf(TimeoutError);
  });

  it('restore as their own class across the wire, keeping retryAfterMs', () => {
    const limited = new RateLimitedError('slow down', { data: { retryAfterMs: 1_500 } });
    const back = restoreError(JSON.parse(JSON.stringify(serializeError(limited))));
    expect(back).toBeInstanceOf(RateLimitedError);
    expect((back as RateLimitedError).retryAfterMs).toBe(1_500);
    expect(isRateLimitedError(back)).toBe(true);
    const deadline = restoreError(serializeError(new DeadlineExceededError('late', { retryable: false })));
    expect(isDeadlineExceededError(deadline)).toBe(true);
    expect(deadline.retryable).toBe(false);
  });

  it('map to problem+json with their status', () => {
    expect(errorToProblem(new BrokenCircuitError('open'))).toMatchObject({
      status: 503,
      code: 'CIRCUIT_OPEN',
    });
    expect(errorToProblem(new RateLimitedError('slow'))).toMatchObject({
      status: 429,
      code: 'RATE_LIMITED',
      retryable: true,
    });
  });
});

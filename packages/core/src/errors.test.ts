import { describe, expect, it } from 'vitest';
import {
  FlotillaError,
  hasErrorCode,
  isFlotillaError,
  NotFoundError,
  registerErrorClass,
  restoreError,
  serializeError,
  TimeoutError,
  ValidationError,
} from './errors.js';

class QuotaExceededError extends FlotillaError {
  static override readonly defaultCode = 'QUOTA_EXCEEDED';
  static override readonly defaultStatus = 429;
  static override readonly defaultRetryable = true;
}
registerErrorClass(QuotaExceededError);

describe('FlotillaError', () => {
  it('carries code, retryable, status, data and cause', () => {
    const cause = new Error('socket hang up');
    const err = new FlotillaError('call failed', {
      code: 'UPSTREAM',
      retryable: true,
      data: { target: 'catalog' },
      cause,
    });
    expect(err.code).toBe('UPSTREAM');
    expect(err.retryable).toBe(true);
    expect(err.status).toBe(500);
    expect(err.data).toEqual({ target: 'catalog' });
    expect(err.cause).toBe(cause);
    expect(err).toBeInstanceOf(Error);
  });

  it('takes defaults from the subclass', () => {
    const err = new TimeoutError('deadline passed');
    expect([err.name, err.code, err.status, err.retryable]).toEqual(['TimeoutError', 'TIMEOUT', 504, true]);
    expect(new QuotaExceededError('slow down').code).toBe('QUOTA_EXCEEDED');
  });

  it('is recognised by its brand, not by instanceof, so duplicate package copies agree', () => {
    const foreign = Object.create({ [Symbol.for('flotilla.error')]: true });
    expect(isFlotillaError(foreign)).toBe(true);
    expect(isFlotillaError(new Error('plain'))).toBe(false);
    expect(isFlotillaError(null)).toBe(false);
    expect(isFlotillaError('TIMEOUT')).toBe(false);
    expect(hasErrorCode(new NotFoundError('x'), 'NOT_FOUND')).toBe(true);
    expect(hasErrorCode(new NotFoundError('x'), 'TIMEOUT')).toBe(false);
  });
});

describe('serializeError / restoreError', () => {
  it('round-trips a typed error with its cause chain through JSON', () => {
    const inner = new TimeoutError('catalog took 2s', { data: { ms: 2000 } });
    const outer = new QuotaExceededError('rejected', { cause: inner, data: { limit: 10 } });
    const wire = JSON.parse(JSON.stringify(outer));
    const back = restoreError(wire);
    expect(back).toBeInstanceOf(QuotaExceededError);
    expect(back.message).toBe('rejected');
    expect(back.status).toBe(429);
    expect(back.data).toEqual({ limit: 10 });
    expect(back.cause).toBeInstanceOf(TimeoutError);
    expect((back.cause as TimeoutError).data).toEqual({ ms: 2000 });
  });

  it('serializes plain errors and non-errors without losing the message', () => {
    const sys = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    expect(serializeError(sys)).toMatchObject({ name: 'Error', code: 'ECONNREFUSED', retryable: false });
    expect(serializeError('boom')).toEqual({
      name: 'Error',
      code: 'INTERNAL',
      message: 'boom',
      retryable: false,
    });
  });

  it('restores an unknown error name as a FlotillaError that keeps the name and code', () => {
    const back = restoreError({ name: 'PaymentDeclined', code: 'DECLINED', message: 'no', retryable: false });
    expect(back).toBeInstanceOf(FlotillaError);
    expect(back.name).toBe('PaymentDeclined');
    expect(back.code).toBe('DECLINED');
  });

  it('stops at a bounded cause depth instead of recursing forever on a cycle', () => {
    const a = new Error('a');
    const b = new Error('b', { cause: a });
    (a as { cause?: unknown }).cause = b;
    let depth = 0;
    for (let e: { cause?: unknown } | undefined = serializeError(a); e; e = e.cause as never) depth++;
    expect(depth).toBeLessThanOrEqual(9);
  });

  it('keeps field errors of a ValidationError', () => {
    const err = new ValidationError('bad', {
      data: { errors: [{ field: '/body/name', message: 'required' }] },
    });
    expect(restoreError(serializeError(err)).data).toEqual(err.data);
  });
});

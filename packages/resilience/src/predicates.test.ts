import { describe, expect, it } from 'vitest';
import { BrokenCircuitError, DeadlineExceededError } from './errors.js';
import { connectionRefused, httpError } from './fixtures/helpers.js';
import { resolvePredicate } from './predicates.js';

function named(ref: string | string[], registered = {}) {
  const p = resolvePredicate(ref, registered);
  if (typeof p !== 'function') throw new Error(`unknown ${p.unknown}`);
  return p;
}

describe('named predicates', () => {
  it('matches a status class and an exact status, also when wrapped as cause', () => {
    expect(named('status:5xx')(httpError(503))).toBe(true);
    expect(named('status:5xx')(httpError(429))).toBe(false);
    expect(named('status:429')(new Error('wrapped', { cause: httpError(429) }))).toBe(true);
    expect(named('status:429')(new Error('no status'))).toBe(false);
  });

  it('knows connection errors, timeouts and the policies’ own rejections by name', () => {
    expect(named('connection-error')(connectionRefused())).toBe(true);
    expect(named('timeout')(new DeadlineExceededError('late'))).toBe(true);
    expect(named('rejection')(new BrokenCircuitError('open'))).toBe(true);
    expect(named('failure')(httpError(404))).toBe(false);
  });

  it('combines a list with OR', () => {
    const p = named(['timeout', 'status:429']);
    expect(p(httpError(429))).toBe(true);
    expect(p(new DeadlineExceededError('late'))).toBe(true);
    expect(p(httpError(500))).toBe(false);
  });

  it('prefers a registered predicate to a built-in of the same name', () => {
    expect(named('timeout', { timeout: () => false })(new DeadlineExceededError('late'))).toBe(false);
  });

  it('reports the first name it does not know', () => {
    expect(resolvePredicate(['timeout', 'status:600', 'nope'], {})).toEqual({ unknown: 'status:600' });
  });
});

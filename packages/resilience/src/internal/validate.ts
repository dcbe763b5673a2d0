import { ConfigurationError } from '@flotilla/core';

/**
 * Construction-time checks. Every message names the policy, the field and the value, e.g.
 * `CircuitBreaker failureRateThreshold should be in (0, 100], got 150`.
 */

export function invalid(owner: string, field: string, rule: string, value: unknown): never {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  throw new ConfigurationError(`${owner} ${field} should be ${rule}, got ${shown}`, {
    data: {
      policy: owner,
      field,
      value: typeof value === 'number' || typeof value === 'string' ? value : shown,
    },
  });
}

/** A finite number in (low, high] (`openLow`) or [low, high]. */
export function checkRange(
  owner: string,
  field: string,
  value: number,
  low: number,
  high: number,
  openLow = false,
): number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (openLow ? value > low : value >= low) &&
    value <= high;
  if (!ok) invalid(owner, field, `in ${openLow ? '(' : '['}${low}, ${high}]`, value);
  return value;
}

/** An integer ≥ `min`. */
export function checkInt(owner: string, field: string, value: number, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    invalid(owner, field, `an integer >= ${min}`, value);
  }
  return value;
}

/** A finite number ≥ `min` (or `Infinity` when `allowInfinity`). */
export function checkMin(
  owner: string,
  field: string,
  value: number,
  min: number,
  allowInfinity = false,
): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    value >= min &&
    (allowInfinity || Number.isFinite(value));
  if (!ok) invalid(owner, field, `a number >= ${min}${allowInfinity ? ' (or Infinity)' : ''}`, value);
  return value;
}

/** A number > 0. */
export function checkPositive(owner: string, field: string, value: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) invalid(owner, field, '> 0', value);
  return value;
}

/** One of the listed strings. */
export function checkOneOf<T extends string>(
  owner: string,
  field: string,
  value: T,
  allowed: readonly T[],
): T {
  if (!allowed.includes(value))
    invalid(owner, field, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`, value);
  return value;
}

/** A function. */
export function checkFunction(owner: string, field: string, value: unknown): void {
  if (typeof value !== 'function') invalid(owner, field, 'a function', value);
}

/** A non-empty string. */
export function checkName(owner: string, field: string, value: unknown): string {
  if (typeof value !== 'string' || value.length === 0) invalid(owner, field, 'a non-empty string', value);
  return value as string;
}

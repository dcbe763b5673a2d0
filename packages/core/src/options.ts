import { ConfigurationError } from './errors.js';

/**
 * Checks a numeric option at construction: an integer in [1, max]. The error names the owner,
 * the field and the value: `NATS bus adapter ackWaitMs should be a positive integer, got 0`.
 */
export function positiveIntegerOption(owner: string, field: string, value: number, max = Infinity): number {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    const range = max === Infinity ? 'a positive integer' : `an integer in [1, ${max}]`;
    throw new ConfigurationError(`${owner} ${field} should be ${range}, got ${String(value)}`, {
      data: { field, value },
    });
  }
  return value;
}

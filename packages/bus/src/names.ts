import { ConfigurationError } from '@flotilla/core';

/**
 * Topics, groups and message types must be valid in every broker: RabbitMQ queue names,
 * NATS subject tokens (no spaces, `*` or `>`), Redis keys and Kafka topic names
 * (`[a-zA-Z0-9._-]`, at most 249). Dots are allowed and mean hierarchy where a broker has it.
 */
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,199}$/;

/** Throws a `ConfigurationError` naming `field` unless `value` is a valid bus name. */
export function assertName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !NAME.test(value)) {
    throw new ConfigurationError(
      `${field} should match ${NAME.source} (letters, digits, '.', '_', '-'; at most 200), got ${JSON.stringify(value)}`,
      { data: { field, value } },
    );
  }
  return value;
}

/** Throws a `ConfigurationError` naming `field` unless `value` is an integer within [min, max]. */
export function assertInteger(
  field: string,
  value: unknown,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new ConfigurationError(`${field} should be an integer in [${min}, ${max}], got ${String(value)}`, {
      data: { field, value },
    });
  }
  return value;
}

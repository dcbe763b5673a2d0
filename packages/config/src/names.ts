import { ValidationError } from '@flotilla/core';

/**
 * Names of services, environments (profiles) and keys. They become file names and URL path
 * segments, so they are checked before they are used anywhere.
 */

/** A service or environment name: letters, digits, `_` and `-`, starting with a letter or digit. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,126}$/;

/** A dotted key such as `db.pool.size`. */
export const KEY_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** The layer name shared by every service (`application.yaml`). */
export const APPLICATION = 'application';

/** Throws a `ValidationError` naming `field` unless `value` is a valid service or environment name. */
export function assertName(value: string, field: string): string {
  if (!NAME_PATTERN.test(value)) {
    throw new ValidationError(`${field} should match ${NAME_PATTERN.source}, got "${value}"`, {
      data: { errors: [{ field, message: `should match ${NAME_PATTERN.source}` }] },
    });
  }
  return value;
}

/** Parses `dev,db` into profile names (Spring's list form), each checked. */
export function parseProfiles(value: string, field: string): string[] {
  const profiles = value.split(',').map((p) => p.trim());
  for (const p of profiles) assertName(p, field);
  return profiles;
}

/** Throws a `ValidationError` naming `field` unless `value` is a valid dotted key. */
export function assertKey(value: string, field: string): string {
  if (value.length > 256 || !KEY_PATTERN.test(value)) {
    throw new ValidationError(`${field} should be a dotted key like db.pool.size, got "${value}"`, {
      data: {
        errors: [{ field, message: 'should be a dotted key like db.pool.size (at most 256 characters)' }],
      },
    });
  }
  return value;
}

/** The layer name of a service and an optional profile: `orders`, `orders-prod`. */
export function layerName(service: string, profile: string | null): string {
  return profile === null ? service : `${service}-${profile}`;
}

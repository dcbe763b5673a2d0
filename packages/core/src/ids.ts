import { uuidv7 } from 'uuidv7';

/**
 * Sortable unique ids (UUIDv7): the first 48 bits are the Unix time in milliseconds, so ids
 * sort by creation time as strings and index well in PostgreSQL `uuid` columns.
 */
export function newId(): string {
  return uuidv7();
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** True when `value` is a lower-case UUIDv7 string. */
export function isId(value: unknown): value is string {
  return typeof value === 'string' && UUID_V7.test(value);
}

/** Milliseconds since the Unix epoch at which a UUIDv7 was made. */
export function idTime(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

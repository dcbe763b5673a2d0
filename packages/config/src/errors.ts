import { FlotillaError, registerErrorClass, UnavailableError, ValidationError } from '@flotilla/core';

/**
 * Errors of the config server and client. This file imports only `@flotilla/core`, because the
 * light client entry uses it too.
 */

/** A `{cipher}` value could not be decrypted (unknown key id, altered ciphertext, no keys). */
export class ConfigDecryptError extends FlotillaError {
  static override readonly defaultCode: string = 'CONFIG_DECRYPT_FAILED';
  static override readonly defaultStatus: number = 500;
}

/** A source file or row could not be read (invalid YAML, top level not a mapping). */
export class ConfigSourceError extends FlotillaError {
  static override readonly defaultCode: string = 'CONFIG_SOURCE_INVALID';
  static override readonly defaultStatus: number = 500;
}

/** The config server cannot be reached and no cached copy exists. */
export class ConfigUnavailableError extends UnavailableError {
  static override readonly defaultCode: string = 'CONFIG_UNAVAILABLE';
}

/** Resolved config that does not match the service's schema, or whose placeholders fail. */
export class ConfigInvalidError extends ValidationError {
  static override readonly defaultCode: string = 'CONFIG_INVALID';
}

/** No credentials, or credentials that match no token. Maps to 401. */
export class UnauthorizedError extends FlotillaError {
  static override readonly defaultCode: string = 'UNAUTHORIZED';
  static override readonly defaultStatus: number = 401;
}

/** Valid credentials that may not do this. Maps to 403. */
export class ForbiddenError extends FlotillaError {
  static override readonly defaultCode: string = 'FORBIDDEN';
  static override readonly defaultStatus: number = 403;
}

/** An operation that the configured sources cannot do (e.g. a write without a PostgreSQL store). */
export class UnsupportedOperationError extends FlotillaError {
  static override readonly defaultCode: string = 'UNSUPPORTED_OPERATION';
  static override readonly defaultStatus: number = 501;
}

for (const ctor of [
  ConfigDecryptError,
  ConfigSourceError,
  ConfigUnavailableError,
  ConfigInvalidError,
  UnauthorizedError,
  ForbiddenError,
  UnsupportedOperationError,
]) {
  registerErrorClass(ctor);
}

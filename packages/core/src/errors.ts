/**
 * The one error type of Flotilla. Every error that a package throws on purpose is a
 * `FlotillaError` (or a subclass) with a stable `code`, so callers branch on codes, not on
 * messages, and errors survive a trip across the wire.
 */

/** Brand that marks Flotilla errors; `Symbol.for` so it matches across duplicate package copies. */
const BRAND = Symbol.for('flotilla.error');

/** Plain-JSON form of an error, as it crosses process boundaries. */
export interface SerializedError {
  name: string;
  code: string;
  message: string;
  retryable: boolean;
  status?: number;
  data?: Record<string, unknown>;
  cause?: SerializedError;
}

export interface FlotillaErrorOptions extends ErrorOptions {
  /** Stable machine-readable code, e.g. `VALIDATION_FAILED`. */
  code?: string;
  /** Whether repeating the same call may succeed. */
  retryable?: boolean;
  /** HTTP status this error maps to when it reaches an HTTP edge. */
  status?: number;
  /** Structured detail (field names, limits, ids). Must be JSON-serializable. */
  data?: Record<string, unknown>;
}

/** Base error: stable `code`, `retryable` flag, optional `data` and ES2022 `cause`. */
export class FlotillaError extends Error {
  /** Code used when none is given. */
  static readonly defaultCode: string = 'INTERNAL';
  static readonly defaultStatus: number = 500;
  static readonly defaultRetryable: boolean = false;

  readonly code: string;
  readonly retryable: boolean;
  readonly status: number;
  readonly data: Record<string, unknown> | undefined;
  constructor(message: string, options: FlotillaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    const ctor = new.target as typeof FlotillaError;
    this.name = ctor.name;
    this.code = options.code ?? ctor.defaultCode;
    this.retryable = options.retryable ?? ctor.defaultRetryable;
    this.status = options.status ?? ctor.defaultStatus;
    this.data = options.data;
  }

  toJSON(): SerializedError {
    return serializeError(this);
  }
}

Object.defineProperty(FlotillaError.prototype, BRAND, { value: true });

/** Bad input: names the offending field(s) in `data.errors`. Maps to 400. */
export class ValidationError extends FlotillaError {
  static override readonly defaultCode: string = 'VALIDATION_FAILED';
  static override readonly defaultStatus: number = 400;
}

/** Bad configuration detected at start; the message names the field and the value. */
export class ConfigurationError extends FlotillaError {
  static override readonly defaultCode: string = 'INVALID_CONFIGURATION';
}

/** The thing asked for does not exist. Maps to 404. */
export class NotFoundError extends FlotillaError {
  static override readonly defaultCode: string = 'NOT_FOUND';
  static override readonly defaultStatus: number = 404;
}

/** The request conflicts with current state. Maps to 409. */
export class ConflictError extends FlotillaError {
  static override readonly defaultCode: string = 'CONFLICT';
  static override readonly defaultStatus: number = 409;
}

/** A deadline or timeout expired. Retryable: another attempt may be faster. Maps to 504. */
export class TimeoutError extends FlotillaError {
  static override readonly defaultCode: string = 'TIMEOUT';
  static override readonly defaultStatus: number = 504;
  static override readonly defaultRetryable: boolean = true;
}

/** A dependency (server, broker, instance) cannot be reached now. Maps to 503. */
export class UnavailableError extends FlotillaError {
  static override readonly defaultCode: string = 'UNAVAILABLE';
  static override readonly defaultStatus: number = 503;
  static override readonly defaultRetryable: boolean = true;
}

/** True for any Flotilla error, including ones from another copy of this package. */
export function isFlotillaError(value: unknown): value is FlotillaError {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
}

/** True when `value` is a Flotilla error with the given code. */
export function hasErrorCode(value: unknown, code: string): value is FlotillaError {
  return isFlotillaError(value) && value.code === code;
}

const MAX_CAUSE_DEPTH = 8;

/** Turns any thrown value into plain JSON that `restoreError` can bring back. */
export function serializeError(error: unknown, depth = 0): SerializedError {
  let out: SerializedError;
  if (isFlotillaError(error)) {
    out = {
      name: error.name,
      code: error.code,
      message: error.message,
      retryable: error.retryable,
      status: error.status,
    };
    if (error.data !== undefined) out.data = error.data;
  } else if (error instanceof Error) {
    const sysCode = (error as NodeJS.ErrnoException).code;
    out = {
      name: error.name,
      code: typeof sysCode === 'string' ? sysCode : 'INTERNAL',
      message: error.message,
      retryable: false,
    };
  } else {
    out = { name: 'Error', code: 'INTERNAL', message: String(error), retryable: false };
  }
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause !== undefined && depth < MAX_CAUSE_DEPTH) out.cause = serializeError(cause, depth + 1);
  return out;
}

type ErrorClass = new (message: string, options?: FlotillaErrorOptions) => FlotillaError;
const registry = new Map<string, ErrorClass>();

/**
 * Registers an error class so `restoreError` rebuilds it by name. The built-in classes are
 * registered already; packages register their own typed errors at module load.
 */
export function registerErrorClass(ctor: ErrorClass): void {
  registry.set(ctor.name, ctor);
}

for (const ctor of [
  FlotillaError,
  ValidationError,
  ConfigurationError,
  NotFoundError,
  ConflictError,
  TimeoutError,
  UnavailableError,
]) {
  registerErrorClass(ctor);
}

/** Rebuilds an error serialized by `serializeError`, as its registered class when known. */
export function restoreError(json: SerializedError, depth = 0): FlotillaError {
  const ctor = registry.get(json.name) ?? FlotillaError;
  const options: FlotillaErrorOptions = { code: json.code, retryable: json.retryable };
  if (json.status !== undefined) options.status = json.status;
  if (json.data !== undefined) options.data = json.data;
  if (json.cause !== undefined && depth < MAX_CAUSE_DEPTH) {
    options.cause = restoreError(json.cause, depth + 1);
  }
  const error = new ctor(json.message, options);
  if (error.name !== json.name) error.name = json.name;
  return error;
}

import { isFlotillaError } from '@flotilla/core';

/**
 * How the policies read an error they did not make. The defaults follow Hystrix's split rather
 * than resilience4j's "every exception is a failure": a dependency that answered with a client
 * error (4xx) is healthy, so it neither trips a breaker nor triggers a fallback, while connection
 * errors, timeouts and 5xx do. An error that carries no status at all (a bug, a plain `Error`)
 * counts as a failure, as it does in both libraries.
 */

/** Error codes of the policies' own rejections: they say nothing about the dependency's health. */
const REJECTION_CODES = new Set([
  'CIRCUIT_OPEN',
  'BULKHEAD_FULL',
  'CONCURRENCY_LIMITED',
  'RATE_LIMITED',
  'CANCELLED',
]);

/** System and undici error codes that mean "could not talk to the other side". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

const MAX_DEPTH = 4;

function field(error: unknown, key: string): unknown {
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>)[key] : undefined;
}

/** HTTP status an error carries (`status`, `statusCode` or `response.status`), if any. */
export function statusOf(error: unknown): number | undefined {
  for (let e = error, depth = 0; e !== undefined && depth < MAX_DEPTH; e = field(e, 'cause'), depth++) {
    const status = field(e, 'status') ?? field(e, 'statusCode') ?? field(field(e, 'response'), 'status');
    if (typeof status === 'number' && status >= 100 && status <= 599) return status;
  }
  return undefined;
}

/** True for connection-level errors (refused, reset, DNS, socket timeouts), also when wrapped as `cause`. */
export function isConnectionError(error: unknown): boolean {
  for (let e = error, depth = 0; e !== undefined && depth < MAX_DEPTH; e = field(e, 'cause'), depth++) {
    const code = field(e, 'code');
    if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  }
  return false;
}

/** True for timeouts: ours (`TIMEOUT`, `DEADLINE_EXCEEDED`) and the platform's `TimeoutError`. */
export function isTimeoutError(error: unknown): boolean {
  const code = field(error, 'code');
  return code === 'TIMEOUT' || code === 'DEADLINE_EXCEEDED' || field(error, 'name') === 'TimeoutError';
}

/** True for a policy's own rejection (breaker open, bulkhead full, limited, cancelled hedge). */
export function isRejection(error: unknown): boolean {
  return isFlotillaError(error) && REJECTION_CODES.has(error.code);
}

/** True when the caller gave up (an `AbortError`), which is not the dependency's fault. */
export function isAbortError(error: unknown): boolean {
  return field(error, 'name') === 'AbortError' || field(error, 'code') === 'ABORT_ERR';
}

/**
 * Default failure predicate of circuit breakers and fallbacks: connection errors, timeouts and
 * 5xx are failures; 4xx are not; errors without a status are.
 */
export function isFailure(error: unknown): boolean {
  if (isTimeoutError(error) || isConnectionError(error)) return true;
  const status = statusOf(error);
  return status === undefined || status >= 500;
}

/**
 * Default retry predicate: a Flotilla error's own `retryable` flag; otherwise connection errors,
 * timeouts and 408/429/502/503/504. Never a policy's own rejection: retrying locally into an open
 * breaker or a full bulkhead only adds load (the `retryable` flag still tells a remote client).
 */
export function isRetryable(error: unknown): boolean {
  if (isRejection(error) || isAbortError(error)) return false;
  if (isFlotillaError(error)) return error.retryable;
  if (isTimeoutError(error) || isConnectionError(error)) return true;
  const status = statusOf(error);
  return status === 408 || status === 429 || status === 502 || status === 503 || status === 504;
}

const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** True for HTTP methods that RFC 9110 defines as idempotent. */
export function isIdempotentMethod(method: string): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase());
}

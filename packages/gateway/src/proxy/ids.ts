import { formatTraceparent, newId, newSpanId, newTraceparent, parseTraceparent } from '@flotilla/core';

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's `x-request-id` when it is a sane token (no spaces, ≤ 128 chars), else a new id. */
export function requestIdOf(value: string | string[] | undefined): string {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : newId();
}

/**
 * The `traceparent` to send upstream (W3C Trace Context): the client's trace continued with a
 * new span id (this hop), or a new sampled trace when the header is absent or invalid.
 */
export function nextTraceparent(value: string | string[] | undefined): string {
  const parent = parseTraceparent(value);
  return parent ? formatTraceparent(parent.traceId, newSpanId(), parent.flags) : newTraceparent();
}

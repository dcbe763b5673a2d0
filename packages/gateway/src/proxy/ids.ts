import { randomFillSync } from 'node:crypto';
import { newId } from '@flotilla/core';

// Span and trace ids come from a pooled random buffer: one getrandom call per 4 KiB of ids
// instead of one per request.
const POOL = Buffer.alloc(4096);
let offset = POOL.length;

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  if (offset + bytes > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's `x-request-id` when it is a sane token (no spaces, ≤ 128 chars), else a new id. */
export function requestIdOf(value: string | string[] | undefined): string {
  return typeof value === 'string' && REQUEST_ID.test(value) ? value : newId();
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The `traceparent` to send upstream (W3C Trace Context): the client's trace continued with a
 * new span id (this hop), or a new sampled trace when the header is absent or invalid.
 */
export function nextTraceparent(value: string | string[] | undefined): string {
  if (typeof value === 'string') {
    const m = TRACEPARENT.exec(value);
    // Version ff is forbidden; version 00 has no trailing fields; all-zero ids are invalid.
    if (
      m &&
      m[1] !== 'ff' &&
      !(m[1] === '00' && m[5] !== undefined) &&
      m[2] !== ZERO_TRACE &&
      m[3] !== ZERO_SPAN
    ) {
      return `00-${m[2]}-${randomHex(8)}-${m[4]}`;
    }
  }
  return `00-${randomHex(16)}-${randomHex(8)}-01`;
}

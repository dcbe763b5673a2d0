import { randomFillSync } from 'node:crypto';
import { writeHex } from './hex.js';

/**
 * W3C Trace Context (`traceparent`) ids, shared by the gateway and services. Ids come from a
 * pooled random buffer refilled 4 KiB at a time: one `randomFillSync` per 8-byte id cost a
 * tenth of a trivial request's server time.
 */
const pool = Buffer.allocUnsafe(4_096);
let offset = pool.length;

/** Where the next `bytes` random bytes start in the pool (refilled when too few are left). */
function take(bytes: number): number {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const at = offset;
  offset += bytes;
  return at;
}

/** `bytes` random bytes as lower-case hex. */
export function randomHex(bytes: number): string {
  const at = take(bytes);
  return pool.toString('hex', at, at + bytes);
}

/** `00-<trace id>-<span id>-01`, the hex written in place (one string made per header). */
const NEW_TRACEPARENT = Buffer.alloc(55, `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`, 'latin1');

/** A `traceparent` that starts a new sampled trace: random trace id (16 bytes) and span id (8). */
export function newTraceparent(): string {
  const at = take(24);
  writeHex(NEW_TRACEPARENT, 3, pool, at, at + 16);
  writeHex(NEW_TRACEPARENT, 36, pool, at + 16, at + 24);
  return NEW_TRACEPARENT.toString('latin1');
}

/** A new random trace id (32 hex). */
export function newTraceId(): string {
  return randomHex(16);
}

/** A new random span id (16 hex). */
export function newSpanId(): string {
  return randomHex(8);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A parsed `traceparent`. */
export interface TraceParent {
  traceId: string;
  parentId: string;
  flags: string;
}

/**
 * Parses a `traceparent`; undefined when absent or invalid (then a new trace starts). Version
 * ff is forbidden, version 00 has no trailing fields, all-zero ids are invalid.
 */
export function parseTraceparent(value: string | readonly string[] | undefined): TraceParent | undefined {
  if (typeof value !== 'string') return undefined;
  const m = TRACEPARENT.exec(value);
  if (
    !m ||
    m[1] === 'ff' ||
    (m[1] === '00' && m[5] !== undefined) ||
    m[2] === ZERO_TRACE ||
    m[3] === ZERO_SPAN
  ) {
    return undefined;
  }
  return { traceId: m[2] as string, parentId: m[3] as string, flags: m[4] as string };
}

/** `traceparent` for a call made from span `spanId` of trace `traceId`. */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

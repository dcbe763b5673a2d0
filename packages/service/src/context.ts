import { AsyncLocalStorage } from 'node:async_hooks';
import { randomFillSync } from 'node:crypto';
import type { Logger, Principal } from '@flotilla/core';

/**
 * What flows with a request through the service and onto every outgoing call: request id,
 * trace, deadline and the principal. Kept in AsyncLocalStorage, so code deep inside a handler
 * (a repository, a typed client) finds it without passing it along.
 */
export interface RequestContext {
  readonly requestId: string;
  /** W3C trace id (32 hex). */
  readonly traceId: string;
  /** This service's span id for the request (16 hex); outgoing calls are its children. */
  readonly spanId: string;
  readonly traceFlags: string;
  readonly tracestate: string | undefined;
  /** Absolute deadline (Unix ms) the caller gave, if any. */
  readonly deadline: number | undefined;
  readonly principal: Principal | undefined;
  /** The raw principal header, forwarded as received. */
  readonly principalHeader: string | undefined;
  /** Logger bound to the request id and trace id. */
  readonly log: Logger;
}

const storage = new AsyncLocalStorage<RequestContext>();

/** The context of the request being handled, if any. */
export function currentRequest(): RequestContext | undefined {
  return storage.getStore();
}

/** Runs `fn` with `ctx` as the current request context. */
export function runWithRequest<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

// Trace and span ids come from a pool refilled 4 KiB at a time: one `randomFillSync` per
// request for an 8-byte id cost a tenth of a trivial request's server time.
const pool = Buffer.allocUnsafe(4_096);
let offset = pool.length;

function randomHex(bytes: number): string {
  if (offset + bytes > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const hex = pool.toString('hex', offset, offset + bytes);
  offset += bytes;
  return hex;
}

/** A new random span id (16 hex). */
export function newSpanId(): string {
  return randomHex(8);
}

/** A new random trace id (32 hex). */
export function newTraceId(): string {
  return randomHex(16);
}

/** Parses a W3C `traceparent`; undefined when absent or malformed (then a new trace starts). */
export function parseTraceparent(
  value: string | undefined,
): { traceId: string; parentId: string; flags: string } | undefined {
  if (!value) return undefined;
  const m = TRACEPARENT.exec(value.trim().toLowerCase());
  if (!m || m[1] === ZERO_TRACE || m[2] === ZERO_SPAN) return undefined;
  return { traceId: m[1] as string, parentId: m[2] as string, flags: m[3] as string };
}

/** `traceparent` for a call made from span `spanId` of trace `traceId`. */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import { type Clock, Headers, systemClock } from '@flotilla/core';
import { DeadlineExceededError } from './errors.js';

/**
 * Deadlines: one absolute time (Unix ms) per call, carried in-process by AsyncLocalStorage and
 * across hops by the `x-flotilla-deadline` header. Every layer gets what remains of its caller's
 * deadline, never more, so timeouts do not stack up across layers.
 *
 * In-process propagation switches on the first time the process establishes a deadline context
 * (`withDeadline`, `enableDeadlineContext`). Until then policies pass deadlines only through
 * `ctx.deadline`, because on Node 20 an active AsyncLocalStorage installs promise hooks that
 * make every promise in the process markedly slower (see the package README).
 */

const storage = new AsyncLocalStorage<number>();

/** Internal switch read by the engine on every call. */
export const deadlineContext = { enabled: false };

/** The header that carries the deadline across hops. */
export const DEADLINE_HEADER: string = Headers.deadline;

/** Turns on in-process deadline propagation (AsyncLocalStorage) for the whole process. */
export function enableDeadlineContext(): void {
  deadlineContext.enabled = true;
}

/** The in-process deadline of the current async context, if any. */
export function currentDeadline(): number | undefined {
  return deadlineContext.enabled ? storage.getStore() : undefined;
}

/**
 * Runs `fn` with `deadline` as the in-process deadline. Nested code sees the earlier of this one
 * and any deadline already in force: an inner scope can shorten a deadline, never extend it.
 */
export function withDeadline<T>(deadline: number | undefined, fn: () => T): T {
  deadlineContext.enabled = true;
  const outer = storage.getStore();
  const effective =
    deadline === undefined ? outer : outer === undefined ? deadline : Math.min(outer, deadline);
  if (effective === undefined || effective === outer) return fn();
  return storage.run(effective, fn);
}

/** Runs `fn` with a deadline `ms` from now (or the deadline already in force, if earlier). */
export function withTimeout<T>(ms: number, fn: () => T, clock: Clock = systemClock): T {
  return withDeadline(clock.now() + ms, fn);
}

/** Internal: runs `fn(arg)` under `deadline` when it is earlier than the one in force. */
export function runUnderDeadline<A, T>(deadline: number, fn: (arg: A) => T, arg: A): T {
  const outer = storage.getStore();
  if (outer !== undefined && outer <= deadline) return fn(arg);
  return storage.run(deadline, fn, arg);
}

/** Milliseconds left until `deadline` (default: the current one); `Infinity` when there is none. */
export function remainingMs(
  deadline: number | undefined = currentDeadline(),
  clock: Clock = systemClock,
): number {
  if (deadline === undefined) return Number.POSITIVE_INFINITY;
  return Math.max(0, deadline - clock.now());
}

/** Throws `DeadlineExceededError` when `deadline` (default: the current one) has passed. */
export function throwIfDeadlineExceeded(
  deadline: number | undefined = currentDeadline(),
  clock: Clock = systemClock,
): void {
  if (deadline !== undefined && clock.now() >= deadline) {
    throw new DeadlineExceededError(`deadline ${new Date(deadline).toISOString()} has passed`, {
      retryable: false,
      data: { deadline },
    });
  }
}

/**
 * Parses an `x-flotilla-deadline` value: a decimal integer of Unix milliseconds. Anything else
 * (empty, negative, fractional, not a number, repeated headers that disagree) yields undefined,
 * so a malformed header never shortens or extends a call.
 */
export function parseDeadline(value: string | readonly string[] | null | undefined): number | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value !== 'string') {
    const parsed = value.map((v) => parseDeadline(v));
    const first = parsed[0];
    return first !== undefined && parsed.every((p) => p === first) ? first : undefined;
  }
  const text = value.trim();
  if (!/^\d{1,16}$/.test(text)) return undefined;
  const ms = Number(text);
  return Number.isSafeInteger(ms) ? ms : undefined;
}

/** Formats a deadline for the header (integer Unix ms, rounded down so it never grows). */
export function formatDeadline(deadline: number): string {
  return String(Math.floor(deadline));
}

/** Anything that looks up headers by name: node's `IncomingHttpHeaders`, a record, or fetch `Headers`. */
export type HeaderSource =
  | IncomingHttpHeaders
  | Record<string, string | readonly string[] | undefined>
  | { get(name: string): string | null };

export interface DeadlineFromHeadersOptions {
  /** Deadline to use when the header is absent: `now + defaultMs`. Default: none. */
  defaultMs?: number;
  /**
   * Upper bound for a received deadline: `now + maxMs`. A server's own limit; it also bounds
   * the effect of a caller whose clock runs ahead of ours. Default: none.
   */
  maxMs?: number;
  clock?: Clock;
}

/** The deadline a request carries, bounded by `maxMs` and defaulted by `defaultMs`. */
export function deadlineFromHeaders(
  headers: HeaderSource,
  options: DeadlineFromHeadersOptions = {},
): number | undefined {
  const raw =
    typeof (headers as { get?: unknown }).get === 'function'
      ? (headers as { get(name: string): string | null }).get(DEADLINE_HEADER)
      : (headers as Record<string, string | readonly string[] | undefined>)[DEADLINE_HEADER];
  const now = (options.clock ?? systemClock).now();
  let deadline = parseDeadline(raw);
  if (deadline === undefined && options.defaultMs !== undefined) deadline = now + options.defaultMs;
  if (options.maxMs !== undefined) {
    const cap = now + options.maxMs;
    if (deadline === undefined || deadline > cap) deadline = cap;
  }
  return deadline;
}

/** `{ 'x-flotilla-deadline': ... }` for `deadline` (default: the current one), or `{}` when there is none. */
export function deadlineHeaders(deadline: number | undefined = currentDeadline()): Record<string, string> {
  return deadline === undefined ? {} : { [DEADLINE_HEADER]: formatDeadline(deadline) };
}

/**
 * Sets the deadline header on outgoing headers (a record, or anything with `set`). An existing
 * header is kept when it is earlier: forwarding never extends a deadline.
 */
export function setDeadlineHeader(
  headers:
    | Record<string, string | string[] | number | undefined>
    | { set(name: string, value: string): void },
  deadline: number | undefined = currentDeadline(),
): void {
  if (deadline === undefined) return;
  if (typeof (headers as { set?: unknown }).set === 'function') {
    const h = headers as { set(name: string, value: string): void; get?(name: string): string | null };
    const existing = parseDeadline(h.get?.(DEADLINE_HEADER) ?? undefined);
    if (existing === undefined || deadline < existing) h.set(DEADLINE_HEADER, formatDeadline(deadline));
    return;
  }
  const record = headers as Record<string, string | string[] | number | undefined>;
  const current = record[DEADLINE_HEADER];
  const existing = typeof current === 'string' ? parseDeadline(current) : undefined;
  if (existing === undefined || deadline < existing) record[DEADLINE_HEADER] = formatDeadline(deadline);
}

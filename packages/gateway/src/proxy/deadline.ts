import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { Headers } from '@flotilla/core';
import { type DeadlineExceededError, parseDeadline, timedOut } from '@flotilla/resilience';
import type { CompiledRoute } from '../routes/compile.js';
import type { AttemptState } from '../upstreams/upstreams.js';

/** The route's deadline, or the client's when that is earlier. */
export function deadlineOf(route: CompiledRoute, req: IncomingMessage): number {
  return deadlineFrom(route, req.headers);
}

/** {@link deadlineOf} from the request's headers, at `now` (Unix ms). */
export function deadlineFrom(route: CompiledRoute, headers: IncomingHttpHeaders, now = Date.now()): number {
  const routeDeadline = now + route.timeoutMs;
  const clientDeadline = parseDeadline(headers[Headers.deadline]);
  return clientDeadline !== undefined && clientDeadline < routeDeadline ? clientDeadline : routeDeadline;
}

/**
 * Runs one attempt that must have its response head by `deadline`, for routes whose pipeline is
 * the timeout alone (no retry, breaker or bulkhead — the plain route). A timer aborts the
 * attempt at the deadline, with the error the timeout policy would give (504 upstream of here);
 * the policy engine's per-call state (~1.7 KB of allocations) is skipped on this hot path.
 */
export async function withinDeadline<T>(
  attempt: (ctx: { readonly deadline: number }) => Promise<T>,
  deadline: number,
  state: AttemptState,
): Promise<T> {
  const left = deadline - Date.now();
  if (left <= 0) throw deadlineExceeded(deadline);
  const timer = setTimeout(abortAtDeadline, left, state, deadline);
  try {
    return await attempt({ deadline });
  } finally {
    clearTimeout(timer);
  }
}

/** Timer callback: aborts the attempt in flight with the deadline's error. */
export function abortAtDeadline(state: AttemptState, deadline: number): void {
  state.current?.abort(deadlineExceeded(deadline));
}

/** The error of a passed deadline, as the timeout policy gives it (a 504 upstream of here). */
export function deadlineExceeded(deadline: number): DeadlineExceededError {
  return timedOut(deadline);
}

/**
 * The error of an attempt cut off by the route's per-try timeout, as the timeout policy of its
 * pipeline gives it (retryable: a later attempt may still finish before the request's deadline).
 */
export function attemptTimedOut(
  route: CompiledRoute,
  timeoutMs: number,
  deadline: number,
): DeadlineExceededError {
  return timedOut(deadline, { name: `${route.id} timeout`, ms: timeoutMs });
}

/**
 * The deadline of one attempt started at `now`: the route's per-try timeout's when the route has
 * one and it ends before the request's `deadline`, else `deadline`. It bounds every attempt, the
 * first too, with or without retries (Envoy's `per_try_timeout`).
 */
export function attemptDeadline(route: CompiledRoute, deadline: number, now: number): number {
  const perTry = route.retry?.perTryTimeoutMs;
  return perTry !== undefined && now + perTry < deadline ? now + perTry : deadline;
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorToProblem, type Logger, type Problem, problem } from '@flotilla/core';
import { isBrokenCircuitError, isBulkheadRejectedError, isDeadlineExceededError } from '@flotilla/resilience';
import { sendProblemOf, sendStatic, tooLargeProblem } from '../answers.js';
import { NoInstanceError, PayloadTooLargeError } from '../errors.js';
import type { CompiledRoute, StaticResponse } from '../routes/compile.js';
import type { AttemptState } from '../upstreams/upstreams.js';

/** What to answer for a failed upstream exchange, whatever writes the answer. */
export type FailureAnswer =
  | { readonly kind: 'problem'; readonly problem: Problem; readonly headers?: Record<string, string> }
  | { readonly kind: 'fallback'; readonly response: StaticResponse }
  /** The client is gone (or the failure is its own): no answer, the connection is dropped. */
  | { readonly kind: 'destroy' };

const answer = (status: number, code: string, detail: string): FailureAnswer => ({
  kind: 'problem',
  problem: problem({ status, code, detail }),
});

/**
 * The answer to a proxied request whose upstream exchange failed (an upstream's own 5xx answer is
 * relayed before this): the route's fallback, or a problem naming what went wrong. Unexpected
 * errors are logged here.
 */
export function failureAnswer(
  logger: Logger,
  method: string | undefined,
  url: string | undefined,
  route: CompiledRoute,
  error: unknown,
  requestId: string,
): FailureAnswer {
  if (error instanceof PayloadTooLargeError) {
    const limit = (error.data?.limit as number | undefined) ?? 0;
    return { kind: 'problem', problem: tooLargeProblem(limit), headers: { connection: 'close' } };
  }
  if (route.fallback) return { kind: 'fallback', response: route.fallback };
  if (isDeadlineExceededError(error))
    return answer(
      504,
      'GATEWAY_TIMEOUT',
      `The upstream did not answer before the deadline (route ${route.id})`,
    );
  if (isBrokenCircuitError(error))
    return answer(
      503,
      'CIRCUIT_OPEN',
      `The circuit breaker of this route's upstream is open (route ${route.id})`,
    );
  if (isBulkheadRejectedError(error))
    return answer(
      503,
      'BULKHEAD_FULL',
      `Too many requests in flight to this route's upstream (route ${route.id})`,
    );
  if (error instanceof NoInstanceError) return answer(503, 'NO_INSTANCE', error.message);
  if ((error as { status?: unknown }).status === 502)
    return answer(502, 'BAD_GATEWAY', (error as Error).message);
  if ((error as { name?: unknown }).name === 'AbortError') return { kind: 'destroy' };
  logger.error({ err: error, route: route.id, method, url }, 'proxying failed');
  return { kind: 'problem', problem: errorToProblem(error, requestId) };
}

/** Answers a failed proxied request on a node:http response (see {@link failureAnswer}). */
export function answerFailure(
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  route: CompiledRoute,
  state: AttemptState,
  error: unknown,
  requestId: string,
  extra: Record<string, string> | undefined,
): void {
  state.current?.abort(error instanceof Error ? error : new Error(String(error)));
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const outcome = failureAnswer(logger, req.method, req.url, route, error, requestId);
  if (outcome.kind === 'fallback') sendStatic(res, route, outcome.response, requestId, extra);
  else if (outcome.kind === 'destroy') res.destroy();
  else sendProblemOf(res, requestId, outcome.problem, outcome.headers ?? extra);
}

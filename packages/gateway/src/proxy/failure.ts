import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorToProblem, Headers, type Logger, sendProblem } from '@flotilla/core';
import { isBrokenCircuitError, isBulkheadRejectedError, isDeadlineExceededError } from '@flotilla/resilience';
import { sendProblemAnswer, sendStatic, sendTooLarge } from '../answers.js';
import { NoInstanceError, PayloadTooLargeError } from '../errors.js';
import type { CompiledRoute } from '../routes/compile.js';
import type { AttemptState } from '../upstreams/upstreams.js';

/**
 * Answers a proxied request whose upstream exchange failed (an upstream's own 5xx answer is
 * relayed before this): the route's fallback, or a problem naming what went wrong.
 */
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
  if (error instanceof PayloadTooLargeError) {
    sendTooLarge(res, requestId, (error.data?.limit as number | undefined) ?? 0);
    return;
  }
  if (route.fallback) {
    sendStatic(res, route, route.fallback, requestId, extra);
    return;
  }
  if (isDeadlineExceededError(error)) {
    sendProblemAnswer(
      res,
      requestId,
      504,
      'GATEWAY_TIMEOUT',
      `The upstream did not answer before the deadline (route ${route.id})`,
      extra,
    );
  } else if (isBrokenCircuitError(error)) {
    sendProblemAnswer(
      res,
      requestId,
      503,
      'CIRCUIT_OPEN',
      `The circuit breaker of this route's upstream is open (route ${route.id})`,
      extra,
    );
  } else if (isBulkheadRejectedError(error)) {
    sendProblemAnswer(
      res,
      requestId,
      503,
      'BULKHEAD_FULL',
      `Too many requests in flight to this route's upstream (route ${route.id})`,
      extra,
    );
  } else if (error instanceof NoInstanceError) {
    sendProblemAnswer(res, requestId, 503, 'NO_INSTANCE', error.message, extra);
  } else if ((error as { status?: unknown }).status === 502) {
    sendProblemAnswer(res, requestId, 502, 'BAD_GATEWAY', (error as Error).message, extra);
  } else if ((error as { name?: unknown }).name === 'AbortError') {
    res.destroy();
  } else {
    logger.error({ err: error, route: route.id, method: req.method, url: req.url }, 'proxying failed');
    sendProblem(res, errorToProblem(error, requestId), { [Headers.requestId]: requestId });
  }
}

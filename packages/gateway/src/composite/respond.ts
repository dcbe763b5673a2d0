import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Headers, type Problem, problem } from '@flotilla/core';
import { sendProblemOf, withExtra } from '../answers.js';
import type { Admitted } from '../features/admit.js';
import type { GatewayMetrics } from '../metrics.js';
import { clientClosed } from '../proxy/client-closed.js';
import { deadlineFrom } from '../proxy/deadline.js';
import { forwardedRequestHeaders, type HeaderRecord } from '../proxy/headers.js';
import { applyHeaderOps } from '../routes/header-ops.js';
import type { RouteMatch } from '../routes/table.js';
import { applySecureHeaders } from '../traffic/secure-headers.js';
import type { AttemptState, Upstreams } from '../upstreams/upstreams.js';
import type { CompositeAction } from './compile.js';
import { callLeg, type LegContext, legHeaders } from './legs.js';
import { runComposite } from './run.js';

/** What a composite route answers: the merged JSON of its legs, or a problem. */
export type CompositeAnswer =
  | { readonly ok: true; readonly headers: HeaderRecord; readonly body: Buffer }
  | { readonly ok: false; readonly problem: Problem };

/** The client request a composite route answers, as both the node:http path and the front see it. */
export interface CompositeCall {
  readonly headers: IncomingHttpHeaders;
  readonly remoteAddress: string | undefined;
  readonly encrypted: boolean;
  readonly search: string;
  readonly requestId: string;
  /** What the route's checks left: the principal and claims of the client, the answer's extra headers. */
  readonly admitted: Pick<Admitted, 'extra' | 'principal' | 'claims'> | undefined;
  /** Gets the state of each leg in flight (abort them when the client leaves). */
  readonly states: Set<AttemptState>;
}

/**
 * Calls a composite route's legs and makes its answer: 200 with their merged JSON (its headers
 * with the request id, the features' headers, the route's header operations and the secure
 * headers), 404 `NO_BRANCH`, or 502 `LEG_FAILED`.
 */
export async function composeAnswer(
  upstreams: Upstreams,
  metrics: GatewayMetrics | undefined,
  match: RouteMatch,
  action: CompositeAction,
  call: CompositeCall,
): Promise<CompositeAnswer> {
  const route = match.route;
  const { requestId, admitted } = call;
  const headers = legHeaders(
    forwardedRequestHeaders(call.headers, call.remoteAddress, call.encrypted, { requestId, traceparent: '' }),
  );
  if (admitted?.principal !== undefined) headers[Headers.principal] = admitted.principal;
  const ctx: LegContext = {
    upstreams,
    metrics,
    route,
    headers,
    traceparent: call.headers[Headers.traceparent],
    deadline: deadlineFrom(route, call.headers),
    states: call.states,
  };
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(call.search)) query[k] ??= v;
  const outcome = await runComposite(
    action,
    { params: match.params, query, headers: call.headers, claims: admitted?.claims },
    (leg, path) => callLeg(ctx, leg, path),
  );
  if (!outcome.ok) {
    if (outcome.leg === undefined)
      return {
        ok: false,
        problem: problem({
          status: 404,
          code: 'NO_BRANCH',
          detail: `No branch of route ${route.id} matches: ${outcome.reason}`,
        }),
      };
    return {
      ok: false,
      problem: problem({
        status: 502,
        code: 'LEG_FAILED',
        detail: `Leg "${outcome.leg}" of route ${route.id} failed: ${outcome.reason}`,
        leg: outcome.leg,
      }),
    };
  }
  const body = Buffer.from(JSON.stringify(outcome.body));
  const out: HeaderRecord = {
    'content-type': 'application/json',
    'content-length': String(body.length),
    [Headers.requestId]: requestId,
  };
  if (outcome.partial.length > 0) out['x-flotilla-partial'] = outcome.partial.join(',');
  if (admitted) withExtra(out, admitted.extra);
  if (route.responseHeaders) applyHeaderOps(out, route.responseHeaders);
  return { ok: true, headers: applySecureHeaders(out), body };
}

/** Calls a composite route's legs and answers their merged JSON (node:http's path). */
export async function respondComposite(
  upstreams: Upstreams,
  metrics: GatewayMetrics | undefined,
  req: IncomingMessage,
  res: ServerResponse,
  match: RouteMatch,
  action: CompositeAction,
  requestId: string,
  search: string,
  admitted: Admitted | undefined,
): Promise<void> {
  const states = new Set<AttemptState>();
  const onClose = () => {
    if (res.headersSent) return;
    for (const state of states) state.current?.abort(clientClosed());
  };
  res.once('close', onClose);
  const encrypted = (req.socket as { encrypted?: boolean }).encrypted === true;
  const answer = await composeAnswer(upstreams, metrics, match, action, {
    headers: req.headers,
    remoteAddress: req.socket.remoteAddress,
    encrypted,
    search,
    requestId,
    admitted,
    states,
  });
  res.off('close', onClose);
  if (res.destroyed) return;
  if (!answer.ok) {
    sendProblemOf(res, requestId, answer.problem, admitted?.extra ?? {});
    return;
  }
  res.writeHead(200, answer.headers as Record<string, string>);
  res.end(req.method === 'HEAD' ? undefined : answer.body);
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import { Headers, problem } from '@flotilla/core';
import { sendProblemAnswer, sendProblemOf, withExtra } from '../answers.js';
import type { Admitted } from '../features/admit.js';
import type { GatewayMetrics } from '../metrics.js';
import { clientClosed } from '../proxy/client-closed.js';
import { deadlineOf } from '../proxy/deadline.js';
import { type HeaderRecord, upstreamRequestHeaders } from '../proxy/headers.js';
import { applyHeaderOps } from '../routes/header-ops.js';
import type { RouteMatch } from '../routes/table.js';
import { applySecureHeaders } from '../traffic/secure-headers.js';
import type { Upstreams } from '../upstreams/upstreams.js';
import type { CompositeAction } from './compile.js';
import { callLeg, type LegContext, legHeaders } from './legs.js';
import { runComposite } from './run.js';

/** Calls a composite route's legs and answers their merged JSON. */
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
  const route = match.route;
  const headers = legHeaders(upstreamRequestHeaders(req, { requestId, traceparent: '' }));
  if (admitted?.principal !== undefined) headers[Headers.principal] = admitted.principal;
  const ctx: LegContext = {
    upstreams,
    metrics,
    route,
    headers,
    traceparent: req.headers[Headers.traceparent],
    deadline: deadlineOf(route, req),
    states: new Set(),
  };
  const onClose = () => {
    if (res.headersSent) return;
    for (const state of ctx.states) state.current?.abort(clientClosed());
  };
  res.once('close', onClose);
  const query: Record<string, string> = {};
  for (const [k, v] of new URLSearchParams(search)) query[k] ??= v;
  const outcome = await runComposite(
    action,
    { params: match.params, query, headers: req.headers, claims: admitted?.claims },
    (leg, path) => callLeg(ctx, leg, path),
  );
  res.off('close', onClose);
  if (res.destroyed) return;
  if (!outcome.ok) {
    const extra = admitted?.extra ?? {};
    if (outcome.leg === undefined) {
      sendProblemAnswer(
        res,
        requestId,
        404,
        'NO_BRANCH',
        `No branch of route ${route.id} matches: ${outcome.reason}`,
        extra,
      );
    } else {
      sendProblemOf(
        res,
        requestId,
        problem({
          status: 502,
          code: 'LEG_FAILED',
          detail: `Leg "${outcome.leg}" of route ${route.id} failed: ${outcome.reason}`,
          leg: outcome.leg,
        }),
        extra,
      );
    }
    return;
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
  res.writeHead(200, applySecureHeaders(out) as Record<string, string>);
  res.end(req.method === 'HEAD' ? undefined : body);
}

import { Headers } from '@flotilla/core';
import { isBrokenCircuitError, isBulkheadRejectedError, isDeadlineExceededError } from '@flotilla/resilience';
import type { GatewayMetrics } from '../metrics.js';
import type { HeaderRecord } from '../proxy/headers.js';
import { nextTraceparent } from '../proxy/ids.js';
import type { CompiledRoute } from '../routes/compile.js';
import type { AttemptState, Upstreams } from '../upstreams/upstreams.js';
import type { CompiledLeg } from './compile.js';
import type { LegResult } from './run.js';

/** Largest leg body read into memory. */
export const MAX_LEG_BODY = 10 * 1024 * 1024;

/** Request headers a leg never inherits: legs are bodiless GETs whose JSON the gateway parses. */
const NOT_FOR_LEGS = ['content-length', 'content-type', 'transfer-encoding', 'expect', 'accept-encoding'];

/** What every leg of one composite request shares. */
export interface LegContext {
  readonly upstreams: Upstreams;
  readonly metrics: GatewayMetrics | undefined;
  readonly route: CompiledRoute;
  /** The client request's upstream headers (forwarding, request id, principal). */
  readonly headers: HeaderRecord;
  /** The client's traceparent: each leg continues it with its own span. */
  readonly traceparent: string | string[] | undefined;
  /** Absolute deadline of the whole route (Unix ms). */
  readonly deadline: number;
  /** Set when the client leaves: legs in flight are aborted. */
  readonly states: Set<AttemptState>;
}

/** Strips what a leg must not inherit from the proxied request headers. */
export function legHeaders(headers: HeaderRecord): HeaderRecord {
  for (const name of NOT_FOR_LEGS) delete headers[name];
  headers.accept = 'application/json';
  return headers;
}

/**
 * One leg through the same machinery as a proxied request: discovery and balancer (or the URL's
 * pool), the upstream's breaker and bulkhead, and the leg's timeout within the route deadline.
 * Anything but a 2xx JSON answer is a failure.
 */
export async function callLeg(ctx: LegContext, leg: CompiledLeg, path: string): Promise<LegResult> {
  const upstream = leg.upstream;
  const fullPath = upstream.kind === 'url' && upstream.basePath ? upstream.basePath + path : path;
  const timeoutMs = leg.timeoutMs ?? ctx.route.timeoutMs;
  const deadline = Math.min(ctx.deadline, Date.now() + timeoutMs);
  const policy = ctx.upstreams.policies.legPipeline(ctx.route, upstream, leg.name, timeoutMs);
  const state: AttemptState = { tried: new Set(), body: { started: false }, current: undefined };
  ctx.states.add(state);
  const headers: HeaderRecord = { ...ctx.headers, [Headers.traceparent]: nextTraceparent(ctx.traceparent) };
  try {
    return await policy.execute(
      async (pctx) => {
        headers[Headers.deadline] = String(Math.floor(pctx.deadline ?? deadline));
        const sent = performance.now();
        const exchange = await ctx.upstreams.send(
          upstream,
          { path: fullPath, method: 'GET', headers: headers as Record<string, string>, body: null },
          state,
        );
        ctx.metrics?.upstreamDuration(upstream.key, (performance.now() - sent) / 1000);
        const body = await exchange.collect(MAX_LEG_BODY);
        if (exchange.statusCode < 200 || exchange.statusCode >= 300) {
          throw new Error(`upstream answered ${exchange.statusCode}`);
        }
        try {
          return {
            status: exchange.statusCode,
            body: body.length === 0 ? null : JSON.parse(body.toString('utf8')),
          };
        } catch {
          throw new Error('upstream answered something other than JSON');
        }
      },
      { deadline, idempotent: true },
    );
  } catch (error) {
    state.current?.abort(error instanceof Error ? error : new Error(String(error)));
    throw new Error(describe(error, timeoutMs), { cause: error });
  } finally {
    ctx.states.delete(state);
  }
}

function describe(error: unknown, timeoutMs: number): string {
  if (isDeadlineExceededError(error)) return `no answer within ${timeoutMs} ms`;
  if (isBrokenCircuitError(error)) return 'circuit breaker open';
  if (isBulkheadRejectedError(error)) return 'too many requests in flight';
  return error instanceof Error ? error.message : String(error);
}

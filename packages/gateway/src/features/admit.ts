import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorToProblem, Headers, type Logger, type Problem } from '@flotilla/core';
import { preflightHeaders, sendProblemOf, withExtra } from '../answers.js';
import type { Claims } from '../auth/outcome.js';
import type { RequestLike } from '../auth/request.js';
import type { GatewayMetrics } from '../metrics.js';
import type { HeaderRecord } from '../proxy/headers.js';
import type { CompiledRoute } from '../routes/compile.js';
import { applyHeaderOps } from '../routes/header-ops.js';
import type { RouteMatch } from '../routes/table.js';
import type { ResponseCache } from '../traffic/cache.js';
import { applySecureHeaders } from '../traffic/secure-headers.js';
import type { RouteFeatures } from './build.js';

/**
 * What a request that passed a route's security and traffic checks carries on to its action:
 * headers for the response (CORS, RateLimit-*, x-cache), the principal for the upstream, and
 * the cache to fill.
 */
export interface Admitted {
  readonly extra: Record<string, string>;
  readonly principal: string | undefined;
  readonly claims: Claims | undefined;
  readonly cache: ResponseCache | undefined;
  readonly req: IncomingMessage;
}

/** Whether a request passed a route's authentication and rate limit (see {@link Admission.access}). */
export type Access =
  | { readonly ok: true; readonly claims: Claims | undefined; readonly principal: string | undefined }
  | { readonly ok: false; readonly problem: Problem; readonly headers: Record<string, string> };

function refused(problem: Problem, headers: Record<string, string>): Access {
  return { ok: false, problem, headers };
}

/** Runs the route's action for an admitted request (the gateway's `act`). */
export type AdmittedAction = (
  req: IncomingMessage,
  res: ServerResponse,
  match: RouteMatch,
  requestId: string,
  pathname: string,
  search: string,
  admitted: Admitted,
) => void;

export interface AdmissionOptions {
  logger: Logger;
  metrics: GatewayMetrics | undefined;
  /** Called once a request is admitted and not answered from the cache. */
  onAdmitted: AdmittedAction;
}

/**
 * A route's security and traffic checks, in this order: CORS preflight (browsers send it
 * without credentials), authentication, rate limit (keyed by the verified client), then the
 * response cache (keyed by identity when the route says so), then the action.
 */
export class Admission {
  private readonly logger: Logger;
  private readonly metrics: GatewayMetrics | undefined;
  private readonly onAdmitted: AdmittedAction;

  constructor(options: AdmissionOptions) {
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.onAdmitted = options.onAdmitted;
  }

  /** Answers a refused, preflight or cached request itself; passes any other on to `onAdmitted`. */
  async admit(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    features: RouteFeatures,
    requestId: string,
    pathname: string,
    search: string,
  ): Promise<void> {
    const { cache, cors } = features;
    if (cors) {
      const preflight = cors.preflight(req);
      if (preflight) {
        if (preflight.problem) sendProblemOf(res, requestId, preflight.problem, preflight.headers);
        else {
          res.writeHead(preflight.status, preflightHeaders(preflight.headers, requestId));
          res.end();
        }
        return;
      }
    }
    // CORS headers go on every answer, refusals included, so a browser script can read them.
    const extra: Record<string, string> = cors ? cors.headers(req) : {};
    const access = await this.access(req, match.route, features, extra, requestId);
    if (!access.ok) {
      sendProblemOf(res, requestId, access.problem, access.headers);
      return;
    }
    const { claims, principal } = access;
    if (res.destroyed) return;
    const applies = cache?.applies(req) === true;
    if (applies) {
      const hit = this.fromCache(cache!, req, match.route, claims, extra, requestId);
      if (hit) {
        res.writeHead(hit.status, hit.headers as Record<string, string | string[]>);
        res.end(req.method === 'HEAD' ? undefined : hit.body);
        return;
      }
    }
    const admitted: Admitted = { extra, principal, claims, cache: applies ? cache : undefined, req };
    this.onAdmitted(req, res, match, requestId, pathname, search, admitted);
  }

  /**
   * Looks the request up in the route's cache, counting the hit or miss: a hit's answer with the
   * headers to write (its own, the request id, `extra`, the route's header operations, the secure
   * headers), or undefined after marking the answer to come `x-cache: MISS` in `extra`. The
   * node:http path and the fast-path front both call this.
   */
  fromCache(
    cache: ResponseCache,
    req: RequestLike,
    route: CompiledRoute,
    claims: Claims | undefined,
    extra: Record<string, string>,
    requestId: string,
  ): { status: number; headers: HeaderRecord; body: Buffer } | undefined {
    const hit = cache.lookup(req, claims);
    this.metrics?.cache(route.id, hit ? 'hit' : 'miss');
    if (hit === undefined) {
      extra['x-cache'] = 'MISS';
      return undefined;
    }
    const headers: HeaderRecord = { ...hit.headers, 'content-length': String(hit.body.length) };
    headers[Headers.requestId] = requestId;
    withExtra(headers, extra);
    if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
    return { status: hit.status, headers: applySecureHeaders(headers), body: hit.body };
  }

  /**
   * A route's authentication, then its rate limit (keyed by the verified client): the node:http
   * path and the fast-path front both call this. `extra`, the answer's headers so far (CORS),
   * gains the `RateLimit-*` headers; a refusal's headers include it. Never throws: a check that
   * fails (a shared limit whose Redis is down, with `failOpen: false`) is logged and refused
   * with its problem.
   */
  async access(
    req: RequestLike,
    route: CompiledRoute,
    features: RouteFeatures,
    extra: Record<string, string>,
    requestId: string,
  ): Promise<Access> {
    const { auth, rateLimit } = features;
    try {
      let claims: Claims | undefined;
      let principal: string | undefined;
      if (auth) {
        const outcome = await auth.authenticate(req);
        if (!outcome.ok) return refused(outcome.problem, withExtra({ ...outcome.headers }, extra));
        claims = outcome.claims;
        if (claims !== undefined) principal = auth.principal(claims);
      }
      if (rateLimit) {
        const outcome = await rateLimit.check(req, claims);
        withExtra(extra, outcome.headers);
        if (!outcome.allowed) {
          this.metrics?.rateLimited(route.id);
          return refused(outcome.problem, extra);
        }
      }
      return { ok: true, claims, principal };
    } catch (error) {
      this.logger.error({ err: error, route: route.id }, 'authentication or rate limit failed');
      return refused(errorToProblem(error, requestId), extra);
    }
  }
}

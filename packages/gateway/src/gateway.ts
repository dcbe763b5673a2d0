import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createLogger, errorToProblem, Headers, type Logger, type Problem } from '@flotilla/core';
import type { DiscoveryClient } from '@flotilla/discovery';
import { isIdempotentMethod } from '@flotilla/resilience';
import type { Redis } from 'ioredis';
import {
  badPathProblem,
  NO_ROUTE,
  noRouteProblem,
  sendProblemAnswer,
  sendProblemOf,
  sendRedirect,
  sendStatic,
  sendTooLarge,
  unrelayableHeadersProblem,
  withExtra,
} from './answers.js';
import { respondComposite } from './composite/respond.js';
import { UpstreamStatusError } from './errors.js';
import { Admission, type Admitted } from './features/admit.js';
import { FeatureBuilder, type RouteFeatures } from './features/build.js';
import type { GatewayMetrics } from './metrics.js';
import { hasRequestBody, RequestBody } from './proxy/body.js';
import { clientClosed } from './proxy/client-closed.js';
import { attemptDeadline, deadlineOf, withinDeadline } from './proxy/deadline.js';
import { DirectAttempt } from './proxy/direct.js';
import type { UpstreamExchange } from './proxy/exchange.js';
import { answerFailure } from './proxy/failure.js';
import { clientResponseHeaders, upstreamRequestHeaders } from './proxy/headers.js';
import { nextTraceparent, requestIdOf } from './proxy/ids.js';
import type { CompiledRoute, Upstream } from './routes/compile.js';
import { applyHeaderOps } from './routes/header-ops.js';
import { renderPathTemplate } from './routes/path-template.js';
import { type RouteMatch, RouteTable } from './routes/table.js';
import { applySecureHeaders } from './traffic/secure-headers.js';
import { type AttemptState, Upstreams } from './upstreams/upstreams.js';
import { tunnelUpgrade } from './websocket.js';

/**
 * A request the fast-path front refuses itself, as the node:http path does: no route matches it
 * (404) or its path cannot be decoded (400).
 */
export interface FrontRefusal {
  readonly problem: Problem;
  /** The route label the answer is counted under in metrics (undefined: not counted, as on node:http's path). */
  readonly counted: string | undefined;
}

/** Default limit of a request body: 10 MiB. */
export const DEFAULT_MAX_BODY_SIZE = 10 * 1024 * 1024;

export interface GatewayOptions {
  routes: readonly CompiledRoute[];
  /** Needed by `service:` targets. */
  discovery?: DiscoveryClient;
  metrics?: GatewayMetrics;
  logger?: Logger;
  /** Request body limit when a route sets none. Default 10 MiB. */
  maxBodySize?: number;
  /** Random source of weighted splits (tests pass a seeded one). */
  random?: () => number;
  /** Connections per upstream origin; default unlimited. */
  connections?: number;
  /** CA certificates (PEM, checked by `checkCaBundle`) trusted for `https:` upstreams besides the public roots. */
  upstreamCa?: string;
  /** Redis for rate limits with `store: redis`; a client is made when a route needs one. */
  redisUrl?: string;
  /** A Redis client you own, instead of `redisUrl`. */
  redis?: Redis;
  /** Prefix of rate limit keys in Redis; default `flotilla:gateway:ratelimit:`. */
  redisPrefix?: string;
}

/**
 * The data path: matches a request to a route and answers it (static, redirect) or proxies it
 * to the route's upstream with streaming bodies and the upstream's resilience policies. Routes
 * are swapped atomically by `setRoutes`; a request in flight keeps the route object it matched.
 */
export class Gateway {
  readonly upstreams: Upstreams;
  readonly logger: Logger;
  private table: RouteTable;
  /** Built per routes version; empty when no route has auth, rateLimit, cache or cors. */
  private features: Map<CompiledRoute, RouteFeatures>;
  private readonly builder: FeatureBuilder;
  /** A route's security and traffic checks (the fast-path front runs them too). */
  readonly admission: Admission;
  readonly metrics: GatewayMetrics | undefined;
  private readonly maxBodySize: number;
  private readonly random: () => number;

  constructor(options: GatewayOptions) {
    this.logger = options.logger ?? createLogger({ service: 'gateway' });
    this.metrics = options.metrics;
    this.maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY_SIZE;
    this.random = options.random ?? Math.random;
    this.upstreams = new Upstreams({
      discovery: options.discovery,
      metrics: options.metrics?.resilience,
      connections: options.connections,
      upstreamCa: options.upstreamCa,
    });
    this.builder = new FeatureBuilder({
      redisUrl: options.redisUrl,
      redis: options.redis,
      redisPrefix: options.redisPrefix,
      logger: this.logger,
    });
    this.admission = new Admission({
      logger: this.logger,
      metrics: this.metrics,
      onAdmitted: (req, res, match, requestId, pathname, search, admitted) =>
        this.act(req, res, match, requestId, pathname, search, admitted),
    });
    this.features = this.builder.build(options.routes);
    this.upstreams.policies.update(options.routes);
    this.table = new RouteTable(options.routes);
  }

  /** The JWKS caches every route's JWT verification shares. */
  get jwks() {
    return this.builder.jwks;
  }

  /** The security and traffic objects of a route being served, if it has any. */
  featuresOf(route: CompiledRoute): RouteFeatures | undefined {
    return this.features.get(route);
  }

  /** Closes upstream pools and the Redis client the gateway made. */
  async close(): Promise<void> {
    await this.upstreams.close();
    await this.builder.close();
  }

  /** The routes being served. */
  get routes(): readonly CompiledRoute[] {
    return this.table.routes;
  }

  /** Replaces the routes; requests already matched finish on their old route. */
  setRoutes(routes: readonly CompiledRoute[]): void {
    const table = new RouteTable(routes);
    const features = this.builder.build(routes);
    this.upstreams.policies.update(routes);
    this.table = table;
    this.features = features;
  }

  /**
   * What the fast-path front does with a request: the match of its route (every kind: proxy,
   * static, redirect, composite, with any of the upstream policies and of auth, rateLimit, cors
   * and cache), or the problem to answer when no route matches (404) or the path cannot be
   * decoded (400), as the node:http path answers them.
   */
  frontMatch(
    method: string,
    pathname: string,
    search: string,
    headers: IncomingHttpHeaders,
  ): RouteMatch | FrontRefusal {
    let match: RouteMatch | undefined;
    try {
      match = this.table.match({ method, pathname, search, headers });
    } catch {
      return { problem: badPathProblem(), counted: undefined };
    }
    if (match === undefined) return { problem: noRouteProblem(method, pathname), counted: NO_ROUTE };
    return match;
  }

  /** Largest request body `route` takes (413 over it): its own `maxBodySize`, or the gateway's. */
  bodyLimitOf(route: CompiledRoute): number {
    return route.maxBodySize ?? this.maxBodySize;
  }

  /** `request` listener of the gateway's HTTP server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers[Headers.requestId]);
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* / */) {
      sendProblemAnswer(res, requestId, 400, 'BAD_REQUEST_TARGET', 'The request target should be a path');
      return;
    }
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q);
    let match: RouteMatch | undefined;
    try {
      match = this.table.match({ method: req.method ?? 'GET', pathname, search, headers: req.headers });
    } catch {
      sendProblemOf(res, requestId, badPathProblem());
      return;
    }
    if (!match) {
      sendProblemOf(res, requestId, noRouteProblem(req.method ?? 'GET', pathname));
      this.count(res, NO_ROUTE, req.method, started);
      return;
    }
    const route = match.route;
    this.count(res, route.id, req.method, started);
    // Routes without security or traffic sections skip all of it: one size check.
    const features = this.features.size === 0 ? undefined : this.features.get(route);
    if (features)
      this.admission
        .admit(req, res, match, features, requestId, pathname, search)
        .catch((error: unknown) => this.fault(res, route, requestId, error));
    else this.act(req, res, match, requestId, pathname, search, undefined);
  };

  /** Runs the route's action: answer at once, proxy, or call the composite's legs. */
  private act(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    requestId: string,
    pathname: string,
    search: string,
    admitted: Admitted | undefined,
  ): void {
    const route = match.route;
    const action = route.action;
    if (action.kind === 'proxy')
      this.proxy(req, res, match, requestId, pathname, search, admitted).catch((error: unknown) =>
        this.fault(res, route, requestId, error),
      );
    else if (action.kind === 'static') sendStatic(res, route, action.response, requestId, admitted?.extra);
    else if (action.kind === 'redirect')
      sendRedirect(res, route, action, match.params, search, requestId, admitted?.extra);
    else
      respondComposite(
        this.upstreams,
        this.metrics,
        req,
        res,
        match,
        action,
        requestId,
        search,
        admitted,
      ).catch((error: unknown) => this.fault(res, route, requestId, error));
  }

  /**
   * A fault of the gateway itself while a request was being answered (a bug, not an upstream's
   * failure): logged, and answered with a 500 problem, or the connection dropped once the
   * answer has begun. Never an unhandled rejection, which would end the process.
   */
  private fault(res: ServerResponse, route: CompiledRoute, requestId: string, error: unknown): void {
    this.logger.error({ err: error, route: route.id }, 'answering the request failed');
    if (res.headersSent || res.destroyed) res.destroy();
    else sendProblemOf(res, requestId, errorToProblem(error, requestId));
  }

  /** `upgrade` listener: WebSocket (and other upgrades) tunnelled to the route's upstream. */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    tunnelUpgrade(this, req, socket, head);
  };

  /** The route for an upgrade request (used by the tunnel). */
  matchUpgrade(req: IncomingMessage): RouteMatch | undefined {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    try {
      return this.table.match({
        method: req.method ?? 'GET',
        pathname: q < 0 ? url : url.slice(0, q),
        search: q < 0 ? '' : url.slice(q),
        headers: req.headers,
      });
    } catch {
      return undefined;
    }
  }

  /** Picks the leg of a (possibly weighted) target. */
  pickLeg(route: CompiledRoute): Upstream {
    const action = route.action;
    if (action.kind !== 'proxy') throw new Error(`route ${route.id} does not proxy`);
    const legs = action.legs;
    if (legs.length === 1) return legs[0]!;
    const cumulative = action.cumulative;
    const point = this.random() * cumulative[cumulative.length - 1]!;
    for (let i = 0; i < legs.length; i++) if (point < cumulative[i]!) return legs[i]!;
    return legs[legs.length - 1]!;
  }

  /** The path sent upstream: rewritten, prefixed with a URL target's base path. */
  upstreamPath(
    route: CompiledRoute,
    leg: Upstream,
    match: RouteMatch,
    pathname: string,
    search: string,
  ): string {
    let path = pathname;
    const rewrite = route.rewrite;
    if (rewrite?.path) path = renderPathTemplate(rewrite.path, match.params);
    else if (
      rewrite?.stripPrefix &&
      (path === rewrite.stripPrefix || path.startsWith(`${rewrite.stripPrefix}/`))
    ) {
      path = path.slice(rewrite.stripPrefix.length) || '/';
    }
    if (leg.kind === 'url' && leg.basePath) path = leg.basePath + path;
    return path + search;
  }

  private async proxy(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    requestId: string,
    pathname: string,
    search: string,
    admitted: Admitted | undefined,
  ): Promise<void> {
    const route = match.route;
    const method = req.method ?? 'GET';
    const contentLength = req.headers['content-length'];
    const hasBody = hasRequestBody(req.headers);
    const limit = this.bodyLimitOf(route);
    if (contentLength !== undefined && Number(contentLength) > limit) {
      sendTooLarge(res, requestId, limit);
      return;
    }
    const leg = this.pickLeg(route);
    const headers = upstreamRequestHeaders(req, {
      requestId,
      traceparent: nextTraceparent(req.headers[Headers.traceparent]),
    });
    if (admitted?.principal !== undefined) headers[Headers.principal] = admitted.principal;
    if (route.requestHeaders) applyHeaderOps(headers, route.requestHeaders);
    const path = this.upstreamPath(route, leg, match, pathname, search);
    // The route's timeout sets the deadline; a client's deadline may only make it earlier.
    const deadline = deadlineOf(route, req);
    const state: AttemptState = { tried: new Set(), body: { started: false }, current: undefined };
    const onClose = () => {
      if (!res.headersSent) state.current?.abort(clientClosed());
    };
    res.once('close', onClose);
    const upstreams = this.upstreams;
    const metrics = this.metrics;
    const policy = upstreams.policies.pipeline(route, leg);
    // A pipeline of the timeout alone: one attempt, under the per-try timeout if the route has one.
    const due = policy.kind === 'timeout' ? attemptDeadline(route, deadline, Date.now()) : deadline;
    if (policy.kind === 'timeout' && leg.kind === 'url') {
      headers[Headers.deadline] = String(Math.floor(due));
      const options = {
        path,
        method,
        headers: headers as Record<string, string>,
        body: hasBody ? new RequestBody(req, state.body, limit) : null,
      };
      const direct = new DirectAttempt(this, req, res, route, leg, state, requestId, admitted);
      direct.start(upstreams.pool(leg.origin), options, due);
      return;
    }
    const attempt = async (ctx: { readonly deadline: number | undefined }): Promise<UpstreamExchange> => {
      const previous = state.current;
      // An earlier attempt cut off by its per-try timeout is still running: stop it.
      if (previous) previous.abort(new Error('attempt timed out'));
      headers[Headers.deadline] = String(Math.floor(ctx.deadline ?? deadline));
      const sent = performance.now();
      const result = await upstreams.send(
        leg,
        {
          path,
          method,
          headers: headers as Record<string, string>,
          body: hasBody ? new RequestBody(req, state.body, limit) : null,
        },
        state,
      );
      metrics?.upstreamDuration(leg.key, (performance.now() - sent) / 1000);
      if (result.statusCode >= 500) throw new UpstreamStatusError(result);
      return result;
    };
    try {
      const exchange =
        policy.kind === 'timeout'
          ? await withinDeadline(attempt, due, state)
          : await policy.execute(attempt, { deadline, idempotent: !hasBody && isIdempotentMethod(method) });
      this.relay(res, route, exchange, requestId, admitted);
    } catch (error) {
      // An upstream's own 5xx answer is relayed, not replaced.
      if (error instanceof UpstreamStatusError) this.relay(res, route, error.exchange, requestId, admitted);
      else answerFailure(this.logger, req, res, route, state, error, requestId, admitted?.extra);
    }
  }

  /** Relays an upstream answer to the client (head with the gateway's headers, then the body). */
  relay(
    res: ServerResponse,
    route: CompiledRoute,
    exchange: UpstreamExchange,
    requestId: string,
    admitted: Admitted | undefined,
  ): void {
    if (res.destroyed) {
      exchange.discard();
      return;
    }
    const headers = clientResponseHeaders(exchange.headers, requestId);
    if (admitted) withExtra(headers, admitted.extra);
    if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
    applySecureHeaders(headers);
    try {
      res.writeHead(exchange.statusCode, headers as Record<string, string | string[]>);
    } catch (error) {
      exchange.discard();
      // The failed writeHead left the upstream's reason phrase behind; the 502 gets its own.
      res.statusMessage = '';
      this.logger.warn({ err: error, route: route.id }, 'upstream response headers could not be relayed');
      sendProblemOf(res, requestId, unrelayableHeadersProblem());
      return;
    }
    const cache = admitted?.cache;
    if (cache === undefined) exchange.attach(res);
    else {
      // The body streams to the client as always; a copy is kept for the cache if it is small.
      const { req, claims } = admitted!;
      exchange.attach(res, {
        limit: cache.maxEntryBytes,
        done: (body) => cache.store(req, exchange.statusCode, exchange.headers, body, claims),
      });
    }
  }

  private count(res: ServerResponse, route: string, method: string | undefined, started: number): void {
    const metrics = this.metrics;
    if (!metrics) return;
    res.once('finish', () => {
      metrics.request(route, method ?? 'GET', res.statusCode, (performance.now() - started) / 1000);
    });
  }
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createLogger,
  errorToProblem,
  Headers,
  type Logger,
  type Problem,
  problem,
  sendProblem,
} from '@flotilla/core';
import type { DiscoveryClient } from '@flotilla/discovery';
import {
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isDeadlineExceededError,
  isIdempotentMethod,
  parseDeadline,
} from '@flotilla/resilience';
import type { Redis } from 'ioredis';
import type { Claims } from './auth/outcome.js';
import type { CompositeAction } from './composite/compile.js';
import { callLeg, type LegContext, legHeaders } from './composite/legs.js';
import { runComposite } from './composite/run.js';
import { NoInstanceError, PayloadTooLargeError, UpstreamStatusError } from './errors.js';
import { FeatureBuilder, type RouteFeatures } from './features/build.js';
import type { GatewayMetrics } from './metrics.js';
import { RequestBody } from './proxy/body.js';
import type { UpstreamExchange } from './proxy/exchange.js';
import { clientResponseHeaders, type HeaderRecord, upstreamRequestHeaders } from './proxy/headers.js';
import { nextTraceparent, requestIdOf } from './proxy/ids.js';
import type { CompiledRoute, StaticResponse, Upstream } from './routes/compile.js';
import { applyHeaderOps } from './routes/header-ops.js';
import { renderPathTemplate } from './routes/path-template.js';
import { type RouteMatch, RouteTable } from './routes/table.js';
import type { ResponseCache } from './traffic/cache.js';
import { applySecureHeaders } from './traffic/secure-headers.js';
import { type AttemptState, Upstreams } from './upstreams/upstreams.js';
import { tunnelUpgrade } from './websocket.js';

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
  /** Redis for rate limits with `store: redis`; a client is made when a route needs one. */
  redisUrl?: string;
  /** A Redis client you own, instead of `redisUrl`. */
  redis?: Redis;
  /** Prefix of rate limit keys in Redis; default `flotilla:gateway:ratelimit:`. */
  redisPrefix?: string;
}

/**
 * What a request that passed a route's security and traffic checks carries on to its action:
 * headers for the response (CORS, RateLimit-*, x-cache), the principal for the upstream, and
 * the cache to fill.
 */
interface Admitted {
  readonly extra: Record<string, string>;
  readonly principal: string | undefined;
  readonly claims: Claims | undefined;
  readonly cache: ResponseCache | undefined;
  readonly req: IncomingMessage;
}

const ABORTED = (): Error => new DOMException('the client closed the connection', 'AbortError');

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
  private readonly metrics: GatewayMetrics | undefined;
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
    });
    this.builder = new FeatureBuilder({
      redisUrl: options.redisUrl,
      redis: options.redis,
      redisPrefix: options.redisPrefix,
      logger: this.logger,
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

  /** `request` listener of the gateway's HTTP server. */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers[Headers.requestId]);
    const url = req.url ?? '/';
    if (url.charCodeAt(0) !== 47 /* / */) {
      this.problem(res, requestId, 400, 'BAD_REQUEST_TARGET', 'The request target should be a path');
      return;
    }
    const q = url.indexOf('?');
    const pathname = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? '' : url.slice(q);
    let match: RouteMatch | undefined;
    try {
      match = this.table.match({ method: req.method ?? 'GET', pathname, search, headers: req.headers });
    } catch {
      this.problem(res, requestId, 400, 'BAD_PATH', 'The request path is not valid (bad percent-encoding)');
      return;
    }
    if (!match) {
      this.problem(res, requestId, 404, 'ROUTE_NOT_FOUND', `No route matches ${req.method} ${pathname}`);
      this.count(res, '(none)', req.method, started);
      return;
    }
    const route = match.route;
    this.count(res, route.id, req.method, started);
    // Routes without security or traffic sections skip all of it: one size check.
    const features = this.features.size === 0 ? undefined : this.features.get(route);
    if (features) void this.admit(req, res, match, features, requestId, pathname, search);
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
    if (action.kind === 'proxy') void this.proxy(req, res, match, requestId, pathname, search, admitted);
    else if (action.kind === 'static') this.sendStatic(res, route, action.response, requestId, admitted);
    else if (action.kind === 'redirect') {
      let location = renderPathTemplate(action.to, match.params);
      if (action.keepQuery && search) location += location.includes('?') ? `&${search.slice(1)}` : search;
      const headers: HeaderRecord = { location, 'content-length': '0', [Headers.requestId]: requestId };
      if (admitted) withExtra(headers, admitted.extra);
      if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
      applySecureHeaders(headers);
      res.writeHead(action.status, headers as Record<string, string>);
      res.end();
    } else void this.composite(req, res, match, action, requestId, search, admitted);
  }

  /**
   * The route's security and traffic checks, in this order: CORS preflight (browsers send it
   * without credentials), authentication, rate limit (keyed by the verified client), then the
   * response cache (keyed by identity when the route says so), then the action.
   */
  private async admit(
    req: IncomingMessage,
    res: ServerResponse,
    match: RouteMatch,
    features: RouteFeatures,
    requestId: string,
    pathname: string,
    search: string,
  ): Promise<void> {
    const { auth, rateLimit, cache, cors } = features;
    if (cors) {
      const preflight = cors.preflight(req);
      if (preflight) {
        if (preflight.problem) this.sendProblemOf(res, requestId, preflight.problem, preflight.headers);
        else {
          const headers = { ...preflight.headers, 'content-length': '0', [Headers.requestId]: requestId };
          res.writeHead(preflight.status, applySecureHeaders(headers));
          res.end();
        }
        return;
      }
    }
    // CORS headers go on every answer, refusals included, so a browser script can read them.
    const extra: Record<string, string> = cors ? cors.headers(req) : {};
    let claims: Claims | undefined;
    let principal: string | undefined;
    try {
      if (auth) {
        const outcome = await auth.authenticate(req);
        if (!outcome.ok) {
          this.sendProblemOf(res, requestId, outcome.problem, withExtra({ ...outcome.headers }, extra));
          return;
        }
        claims = outcome.claims;
        if (claims !== undefined) principal = auth.principal(claims);
      }
      if (rateLimit) {
        const outcome = await rateLimit.check(req, claims);
        withExtra(extra, outcome.headers);
        if (!outcome.allowed) {
          this.metrics?.rateLimited(match.route.id);
          this.sendProblemOf(res, requestId, outcome.problem, extra);
          return;
        }
      }
    } catch (error) {
      this.logger.error({ err: error, route: match.route.id }, 'authentication or rate limit failed');
      if (!res.headersSent)
        sendProblem(res, errorToProblem(error, requestId), { [Headers.requestId]: requestId });
      return;
    }
    if (res.destroyed) return;
    const applies = cache?.applies(req) === true;
    if (applies) {
      const hit = cache!.lookup(req, claims);
      this.metrics?.cache(match.route.id, hit ? 'hit' : 'miss');
      if (hit) {
        const headers: HeaderRecord = { ...hit.headers, 'content-length': String(hit.body.length) };
        headers[Headers.requestId] = requestId;
        withExtra(headers, extra);
        if (match.route.responseHeaders) applyHeaderOps(headers, match.route.responseHeaders);
        res.writeHead(hit.status, applySecureHeaders(headers) as Record<string, string | string[]>);
        res.end(req.method === 'HEAD' ? undefined : hit.body);
        return;
      }
      extra['x-cache'] = 'MISS';
    }
    const admitted: Admitted = { extra, principal, claims, cache: applies ? cache : undefined, req };
    this.act(req, res, match, requestId, pathname, search, admitted);
  }

  /** Calls a composite route's legs and answers their merged JSON. */
  private async composite(
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
      upstreams: this.upstreams,
      metrics: this.metrics,
      route,
      headers,
      traceparent: req.headers[Headers.traceparent],
      deadline: this.deadlineOf(route, req),
      states: new Set(),
    };
    const onClose = () => {
      if (res.headersSent) return;
      for (const state of ctx.states) state.current?.abort(ABORTED());
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
        this.problem(
          res,
          requestId,
          404,
          'NO_BRANCH',
          `No branch of route ${route.id} matches: ${outcome.reason}`,
          extra,
        );
      } else {
        this.sendProblemOf(
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

  /** The route's deadline, or the client's when that is earlier. */
  private deadlineOf(route: CompiledRoute, req: IncomingMessage): number {
    const routeDeadline = Date.now() + route.timeoutMs;
    const clientDeadline = parseDeadline(req.headers[Headers.deadline]);
    return clientDeadline !== undefined && clientDeadline < routeDeadline ? clientDeadline : routeDeadline;
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
    const hasBody =
      (contentLength !== undefined && contentLength !== '0') ||
      req.headers['transfer-encoding'] !== undefined;
    const limit = route.maxBodySize ?? this.maxBodySize;
    if (contentLength !== undefined && Number(contentLength) > limit) {
      this.tooLarge(res, requestId, limit);
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
    const deadline = this.deadlineOf(route, req);
    const state: AttemptState = { tried: [], body: { started: false }, current: undefined };
    const onClose = () => {
      if (!res.headersSent) state.current?.abort(ABORTED());
    };
    res.once('close', onClose);
    const upstreams = this.upstreams;
    const metrics = this.metrics;
    const policy = upstreams.policies.pipeline(route, leg);
    try {
      const exchange = await policy.execute(
        async (ctx) => {
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
        },
        { deadline, idempotent: !hasBody && isIdempotentMethod(method) },
      );
      this.relay(res, route, exchange, requestId, admitted);
    } catch (error) {
      this.failed(res, route, state, error, requestId, req, admitted);
    }
  }

  private relay(
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
      this.logger.warn({ err: error, route: route.id }, 'upstream response headers could not be relayed');
      this.problem(
        res,
        requestId,
        502,
        'BAD_UPSTREAM_RESPONSE',
        'The upstream sent headers that cannot be relayed',
      );
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

  private failed(
    res: ServerResponse,
    route: CompiledRoute,
    state: AttemptState,
    error: unknown,
    requestId: string,
    req: IncomingMessage,
    admitted: Admitted | undefined,
  ): void {
    if (error instanceof UpstreamStatusError) {
      this.relay(res, route, error.exchange, requestId, admitted);
      return;
    }
    const extra = admitted?.extra;
    state.current?.abort(error instanceof Error ? error : new Error(String(error)));
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (error instanceof PayloadTooLargeError) {
      this.tooLarge(res, requestId, (error.data?.limit as number | undefined) ?? 0);
      return;
    }
    if (route.fallback) {
      this.sendStatic(res, route, route.fallback, requestId, admitted);
      return;
    }
    if (isDeadlineExceededError(error)) {
      this.problem(
        res,
        requestId,
        504,
        'GATEWAY_TIMEOUT',
        `The upstream did not answer before the deadline (route ${route.id})`,
        extra,
      );
    } else if (isBrokenCircuitError(error)) {
      this.problem(
        res,
        requestId,
        503,
        'CIRCUIT_OPEN',
        `The circuit breaker of this route's upstream is open (route ${route.id})`,
        extra,
      );
    } else if (isBulkheadRejectedError(error)) {
      this.problem(
        res,
        requestId,
        503,
        'BULKHEAD_FULL',
        `Too many requests in flight to this route's upstream (route ${route.id})`,
        extra,
      );
    } else if (error instanceof NoInstanceError) {
      this.problem(res, requestId, 503, 'NO_INSTANCE', error.message, extra);
    } else if ((error as { status?: unknown }).status === 502) {
      this.problem(res, requestId, 502, 'BAD_GATEWAY', (error as Error).message, extra);
    } else if ((error as { name?: unknown }).name === 'AbortError') {
      res.destroy();
    } else {
      this.logger.error({ err: error, route: route.id, method: req.method, url: req.url }, 'proxying failed');
      sendProblem(res, errorToProblem(error, requestId), { [Headers.requestId]: requestId });
    }
  }

  private sendStatic(
    res: ServerResponse,
    route: CompiledRoute,
    response: StaticResponse,
    requestId: string,
    admitted?: Admitted,
  ): void {
    const headers: HeaderRecord = { ...response.headers, 'content-length': String(response.body.length) };
    headers[Headers.requestId] = requestId;
    if (admitted) withExtra(headers, admitted.extra);
    if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
    applySecureHeaders(headers);
    res.writeHead(response.status, headers as Record<string, string>);
    res.end(response.body);
  }

  private tooLarge(res: ServerResponse, requestId: string, limit: number): void {
    // The unread body is not drained: the connection closes after the answer.
    this.problem(
      res,
      requestId,
      413,
      'PAYLOAD_TOO_LARGE',
      `The request body exceeds the limit of ${limit} bytes`,
      {
        connection: 'close',
      },
    );
  }

  private problem(
    res: ServerResponse,
    requestId: string,
    status: number,
    code: string,
    detail: string,
    extra: Record<string, string> = {},
  ): void {
    this.sendProblemOf(res, requestId, problem({ status, code, detail }), extra);
  }

  /** A problem+json answer with the request id, `headers` and the secure headers. */
  private sendProblemOf(
    res: ServerResponse,
    requestId: string,
    p: Problem,
    headers: Record<string, string> = {},
  ): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const out: Record<string, string> = { ...headers, [Headers.requestId]: requestId };
    sendProblem(res, { ...p, instance: requestId }, applySecureHeaders(out));
  }

  private count(res: ServerResponse, route: string, method: string | undefined, started: number): void {
    const metrics = this.metrics;
    if (!metrics) return;
    res.once('finish', () => {
      metrics.request(route, method ?? 'GET', res.statusCode, (performance.now() - started) / 1000);
    });
  }
}

/** Adds `extra` to `headers`; `Vary` lists are merged, since the cache and CORS both vary. */
function withExtra<H extends Record<string, unknown>>(headers: H, extra: Record<string, string>): H {
  const target = headers as Record<string, unknown>;
  for (const name in extra) {
    const value = extra[name]!;
    const existing = target[name];
    target[name] = name === 'vary' && existing !== undefined ? `${String(existing)}, ${value}` : value;
  }
  return headers;
}

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createLogger, errorToProblem, Headers, type Logger, problem, sendProblem } from '@flotilla/core';
import type { DiscoveryClient } from '@flotilla/discovery';
import {
  isBrokenCircuitError,
  isBulkheadRejectedError,
  isDeadlineExceededError,
  isIdempotentMethod,
  parseDeadline,
} from '@flotilla/resilience';
import { NoInstanceError, PayloadTooLargeError, UpstreamStatusError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';
import { RequestBody } from './proxy/body.js';
import type { UpstreamExchange } from './proxy/exchange.js';
import {
  clientResponseHeaders,
  type HeaderRecord,
  SECURE_RESPONSE_HEADERS,
  upstreamRequestHeaders,
} from './proxy/headers.js';
import { nextTraceparent, requestIdOf } from './proxy/ids.js';
import type { CompiledRoute, StaticResponse, Upstream } from './routes/compile.js';
import { applyHeaderOps } from './routes/header-ops.js';
import { renderPathTemplate } from './routes/path-template.js';
import { type RouteMatch, RouteTable } from './routes/table.js';
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
    this.upstreams.policies.update(options.routes);
    this.table = new RouteTable(options.routes);
  }

  /** The routes being served. */
  get routes(): readonly CompiledRoute[] {
    return this.table.routes;
  }

  /** Replaces the routes; requests already matched finish on their old route. */
  setRoutes(routes: readonly CompiledRoute[]): void {
    const table = new RouteTable(routes);
    this.upstreams.policies.update(routes);
    this.table = table;
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
    const action = route.action;
    if (action.kind === 'static') this.sendStatic(res, route, action.response, requestId);
    else if (action.kind === 'redirect') {
      let location = renderPathTemplate(action.to, match.params);
      if (action.keepQuery && search) location += location.includes('?') ? `&${search.slice(1)}` : search;
      const headers: HeaderRecord = { location, 'content-length': '0', [Headers.requestId]: requestId };
      if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
      res.writeHead(action.status, headers as Record<string, string>);
      res.end();
    } else void this.proxy(req, res, match, requestId, pathname, search);
  };

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
    if (route.requestHeaders) applyHeaderOps(headers, route.requestHeaders);
    const path = this.upstreamPath(route, leg, match, pathname, search);
    // The route's timeout sets the deadline; a client's deadline may only make it earlier.
    const routeDeadline = Date.now() + route.timeoutMs;
    const clientDeadline = parseDeadline(req.headers[Headers.deadline]);
    const deadline =
      clientDeadline !== undefined && clientDeadline < routeDeadline ? clientDeadline : routeDeadline;
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
      this.relay(res, route, exchange, requestId);
    } catch (error) {
      this.failed(res, route, state, error, requestId, req);
    }
  }

  private relay(
    res: ServerResponse,
    route: CompiledRoute,
    exchange: UpstreamExchange,
    requestId: string,
  ): void {
    if (res.destroyed) {
      exchange.discard();
      return;
    }
    const headers = clientResponseHeaders(exchange.headers, requestId);
    if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
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
    exchange.attach(res);
  }

  private failed(
    res: ServerResponse,
    route: CompiledRoute,
    state: AttemptState,
    error: unknown,
    requestId: string,
    req: IncomingMessage,
  ): void {
    if (error instanceof UpstreamStatusError) {
      this.relay(res, route, error.exchange, requestId);
      return;
    }
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
      this.sendStatic(res, route, route.fallback, requestId);
      return;
    }
    if (isDeadlineExceededError(error)) {
      this.problem(
        res,
        requestId,
        504,
        'GATEWAY_TIMEOUT',
        `The upstream did not answer before the deadline (route ${route.id})`,
      );
    } else if (isBrokenCircuitError(error)) {
      this.problem(
        res,
        requestId,
        503,
        'CIRCUIT_OPEN',
        `The circuit breaker of this route's upstream is open (route ${route.id})`,
      );
    } else if (isBulkheadRejectedError(error)) {
      this.problem(
        res,
        requestId,
        503,
        'BULKHEAD_FULL',
        `Too many requests in flight to this route's upstream (route ${route.id})`,
      );
    } else if (error instanceof NoInstanceError) {
      this.problem(res, requestId, 503, 'NO_INSTANCE', error.message);
    } else if ((error as { status?: unknown }).status === 502) {
      this.problem(res, requestId, 502, 'BAD_GATEWAY', (error as Error).message);
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
  ): void {
    const headers: HeaderRecord = { ...response.headers, 'content-length': String(response.body.length) };
    headers[Headers.requestId] = requestId;
    for (const [name, value] of SECURE_RESPONSE_HEADERS) headers[name] ??= value;
    if (route.responseHeaders) applyHeaderOps(headers, route.responseHeaders);
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
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendProblem(res, problem({ status, code, detail, instance: requestId }), {
      [Headers.requestId]: requestId,
      'x-content-type-options': 'nosniff',
      ...extra,
    });
  }

  private count(res: ServerResponse, route: string, method: string | undefined, started: number): void {
    const metrics = this.metrics;
    if (!metrics) return;
    res.once('finish', () => {
      metrics.request(route, method ?? 'GET', res.statusCode, (performance.now() - started) / 1000);
    });
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { problem, sendProblem } from '@flotilla/core';
import type { Gateway } from './gateway.js';
import type { GatewayMetrics } from './metrics.js';
import type { RoutesState } from './reload.js';
import { routeUpstreams } from './routes/compile.js';

/** Sends `body` as indented JSON. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body, null, 2);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Answers one admin request; resolves false when no endpoint matches `method` and `path`. */
export type AdminRoute = (
  req: IncomingMessage,
  res: ServerResponse,
  method: string,
  path: string,
) => Promise<boolean>;

/** An admin HTTP server: `route` answers what it knows, the rest is a 404 problem, a failure a 500 one. */
export function adminHttpServer(route: AdminRoute): Server {
  return createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const method = req.method ?? 'GET';
    route(req, res, method, path)
      .then((handled) => {
        if (!handled) {
          sendProblem(
            res,
            problem({ status: 404, code: 'NOT_FOUND', detail: `No admin endpoint ${method} ${path}` }),
          );
        }
      })
      .catch((error: unknown) => {
        if (!res.headersSent) {
          sendProblem(res, problem({ status: 500, code: 'INTERNAL', detail: (error as Error).message }));
        } else res.destroy();
      });
  });
}

/** What the admin API reads. */
export interface AdminContext {
  gateway: Gateway;
  metrics: GatewayMetrics;
  routes: RoutesState;
  /** Re-reads the routes source (file or config server). */
  reload(): Promise<void>;
}

/** Snapshot of every upstream: instances, ejected ones, breaker and bulkhead state. */
export function upstreamsSnapshot(gateway: Gateway): unknown {
  const upstreams = gateway.upstreams;
  const keys = new Set<string>();
  for (const route of gateway.routes) {
    for (const leg of routeUpstreams(route)) keys.add(leg.key);
  }
  const guards = new Map([...upstreams.policies.all()].map((g) => [g.key, g]));
  return [...keys].sort().map((key) => {
    const g = guards.get(key);
    const legs = gateway.routes.flatMap(routeUpstreams);
    const leg = legs.find((l) => l.key === key);
    let instances: unknown[] | undefined;
    if (leg?.kind === 'service' && upstreams.source) {
      const detector = upstreams.balancer(leg.strategy).detectorFor(key);
      instances = upstreams.source.instances(key).map((i) => ({
        instanceId: i.instanceId,
        url: `http://${i.host}:${i.port}`,
        version: i.version,
        zone: i.zone,
        status: i.status,
        ejected: detector?.isEjected(i.instanceId) ?? false,
      }));
    }
    return {
      upstream: key,
      kind: leg?.kind,
      ...(instances ? { instances } : {}),
      breaker: g?.breaker?.snapshot(),
      bulkhead: g?.bulkhead?.snapshot(),
    };
  });
}

/** The admin server: `/health`, `/routes`, `/upstreams`, `/metrics`, `POST /reload`. */
export function createAdminServer(ctx: AdminContext): Server {
  return adminHttpServer(async (_req, res, method, path) => {
    if (method === 'GET' && path === '/health') sendJson(res, 200, { status: 'UP' });
    else if (method === 'GET' && path === '/routes') {
      sendJson(res, 200, {
        source: ctx.routes.source,
        loadedAt: ctx.routes.loadedAt,
        lastError: ctx.routes.lastError ?? null,
        routes: ctx.gateway.routes.map((r) => r.definition),
      });
    } else if (method === 'GET' && path === '/upstreams')
      sendJson(res, 200, { upstreams: upstreamsSnapshot(ctx.gateway) });
    else if (method === 'GET' && path === '/metrics') {
      const text = await ctx.metrics.registry.metrics();
      res.writeHead(200, { 'content-type': ctx.metrics.registry.contentType });
      res.end(text);
    } else if (method === 'POST' && path === '/reload') {
      await ctx.reload();
      sendJson(res, ctx.routes.lastError ? 422 : 200, {
        loadedAt: ctx.routes.loadedAt,
        lastError: ctx.routes.lastError ?? null,
      });
    } else return false;
    return true;
  });
}

import { createServer, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { createLogger, DefaultPorts, type Logger } from '@flotilla/core';
import { DiscoveryClient } from '@flotilla/discovery';
import { createAdminServer } from './admin.js';
import { clientErrorAnswer } from './answers.js';
import { Front, type FrontStats } from './front/front.js';
import { Gateway } from './gateway.js';
import { GatewayMetrics } from './metrics.js';
import {
  ConfigRoutesSource,
  FileRoutesSource,
  type RoutesSource,
  type RoutesState,
  StaticRoutesSource,
} from './reload.js';
import type { CompiledRoute } from './routes/compile.js';
import { parseRoutes, routesFromValue } from './routes/load.js';
import type { RouteDefinition } from './routes/schema.js';
import { checkCaBundle } from './upstreams/upstreams.js';

export interface StartGatewayOptions {
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Admin API port; default 8081; 0 picks a free port. */
  adminPort?: number;
  /** Default `0.0.0.0`. */
  host?: string;
  /** Address of the admin API; default `host`. */
  adminHost?: string;
  /** Routes given in code (definitions, YAML text or compiled). */
  routes?: readonly RouteDefinition[] | string;
  /** A routes YAML file, watched and reloaded. */
  routesFile?: string;
  /** Read routes from the config server at this URL (service `gateway`, key `routes`). */
  configUrl?: string;
  /** Registry for `service:` targets; default `FLOTILLA_REGISTRY_URL` when set. */
  registryUrl?: string;
  /** A discovery client you own (instead of `registryUrl`). */
  discovery?: DiscoveryClient;
  logger?: Logger;
  /** Request body limit when a route sets none; default 10 MiB. */
  maxBodySize?: number;
  /** Largest request head in bytes (431 above it); default 16 KiB (node's). */
  maxHeaderSize?: number;
  /** Time a client has to send the whole request; default 30 s. */
  requestTimeoutMs?: number;
  /** Time a client has to send the request head; default 10 s. */
  headersTimeoutMs?: number;
  /** Idle time after which a client's keep-alive connection is closed; default 65 s. */
  keepAliveTimeoutMs?: number;
  /** Random source of weighted splits (tests). */
  random?: () => number;
  /** Process-wide default metrics (event loop, memory) in `/metrics`; default true. */
  defaultMetrics?: boolean;
  /** Redis for `rateLimit.store: redis` (one limit shared by every gateway); default `FLOTILLA_REDIS_URL`. */
  redisUrl?: string;
  /** Prefix of the shared rate limit keys in Redis; default `flotilla:gateway:ratelimit:`. */
  redisPrefix?: string;
  /**
   * CA certificates (PEM text) trusted for `https:` URL targets in addition to the public roots:
   * upstreams whose certificates come from a private CA.
   */
  upstreamCa?: string;
  /**
   * Serve requests on proxy routes to URLs and services (GET, HEAD, POST, PUT, PATCH, DELETE,
   * OPTIONS; no body or a `Content-Length` one up to 64 KiB; with or without retries, breaker,
   * bulkhead, auth, rate limit, CORS and cache; see `Gateway.frontMatch`), and the 404s of paths
   * no route matches, through the fast-path front, which parses and answers them without
   * node:http's per-request objects; every other request is node:http's as before. Default true.
   */
  fastPath?: boolean;
}

/** A started gateway. */
export interface RunningGateway {
  readonly gateway: Gateway;
  readonly url: string;
  readonly adminUrl: string;
  readonly port: number;
  readonly adminPort: number;
  readonly routesState: RoutesState;
  /** The gateway's Prometheus metrics (its registry is what `/metrics` serves). */
  readonly metrics: GatewayMetrics;
  /** The fast-path front (undefined with `fastPath: false`): its counters. */
  readonly front: { readonly stats: FrontStats } | undefined;
  /** Replaces the routes (definitions or YAML); without an argument re-reads the routes source. Rejects on invalid routes and keeps the old ones. */
  reload(routes?: readonly RouteDefinition[] | string): Promise<void>;
  /** Stops accepting, lets requests in flight finish (up to `drainMs`), closes upstream pools. */
  close(drainMs?: number): Promise<void>;
}

function compileGiven(routes: readonly RouteDefinition[] | string): CompiledRoute[] {
  return typeof routes === 'string' ? parseRoutes(routes, 'routes') : routesFromValue({ routes }, 'routes');
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}

/** Answers malformed requests (400), oversized heads (431) and slow clients (408) with problem+json. */
function onClientError(error: Error & { code?: string }, socket: Socket): void {
  if (
    !socket.writable ||
    (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
  ) {
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW' ? 431 : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  socket.end(clientErrorAnswer(status));
}

/** Starts the gateway and its admin server. */
export async function startGateway(options: StartGatewayOptions = {}): Promise<RunningGateway> {
  // Checked before anything starts: Node's TLS would ignore what is not a certificate.
  if (options.upstreamCa !== undefined) checkCaBundle(options.upstreamCa);
  const logger = options.logger ?? createLogger({ service: 'gateway' });
  const host = options.host ?? '0.0.0.0';
  let source: RoutesSource;
  if (options.routesFile !== undefined) source = new FileRoutesSource(options.routesFile, logger);
  else if (options.configUrl !== undefined) source = new ConfigRoutesSource(options.configUrl, logger);
  else source = new StaticRoutesSource(options.routes === undefined ? [] : compileGiven(options.routes));
  const routes = await source.load();

  const registryUrl = options.registryUrl ?? process.env.FLOTILLA_REGISTRY_URL;
  const ownDiscovery = !options.discovery && registryUrl !== undefined;
  const discovery =
    options.discovery ??
    (registryUrl !== undefined ? new DiscoveryClient({ registryUrl, logger }) : undefined);
  if (ownDiscovery && discovery) {
    // Waits for the first snapshot a little, but never blocks the start on a registry that is down.
    await discovery.start(AbortSignal.timeout(5_000)).catch(() => {
      logger.warn(
        { registry: registryUrl },
        'registry not reachable yet; service routes answer 503 until it is',
      );
    });
  }
  const metrics = new GatewayMetrics(undefined, { defaultMetrics: options.defaultMetrics });
  const gateway = new Gateway({
    routes,
    discovery,
    metrics,
    logger,
    maxBodySize: options.maxBodySize,
    random: options.random,
    redisUrl: options.redisUrl ?? process.env.FLOTILLA_REDIS_URL,
    redisPrefix: options.redisPrefix,
    upstreamCa: options.upstreamCa,
  });
  source.follow((next) => gateway.setRoutes(next));

  const limits = {
    maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
    headersTimeoutMs: options.headersTimeoutMs ?? 10_000,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    // Longer than the 60 s idle timeout of common load balancers in front of a gateway, so
    // they, not we, close idle connections (the keep-alive race, seen from the other side).
    keepAliveTimeoutMs: options.keepAliveTimeoutMs ?? 65_000,
  };
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderSize,
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      // node:http checks the two timeouts above on this interval (30 s by default, so a 10 s
      // head timeout could fire at 40 s); a quarter of the head timeout keeps it near its value.
      connectionsCheckingInterval: Math.min(30_000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      noDelay: true,
    },
    gateway.handle,
  );
  server.on('upgrade', gateway.handleUpgrade);
  server.on('clientError', onClientError);
  const front = options.fastPath === false ? undefined : new Front(gateway, server, limits);
  if (front) metrics.watchFront(front.stats);
  const admin = createAdminServer({ gateway, metrics, routes: source.state, reload: () => source.reload() });

  const port = await listen(server, options.port ?? DefaultPorts.gateway, host);
  let adminPort: number;
  try {
    adminPort = await listen(
      admin,
      options.adminPort ?? DefaultPorts.gatewayAdmin,
      options.adminHost ?? host,
    );
  } catch (error) {
    server.close();
    throw error;
  }
  const local = (address: string) => (address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address);
  let closing: Promise<void> | undefined;
  return {
    gateway,
    url: `http://${local(host)}:${port}`,
    adminUrl: `http://${local(options.adminHost ?? host)}:${adminPort}`,
    port,
    adminPort,
    routesState: source.state,
    metrics,
    front,
    async reload(next) {
      if (next === undefined) {
        await source.reload();
        if (source.state.lastError) throw new Error(source.state.lastError.message);
        return;
      }
      gateway.setRoutes(compileGiven(next));
    },
    close(drainMs = 5_000) {
      closing ??= (async () => {
        await source.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        front?.closeIdle();
        admin.close();
        admin.closeAllConnections();
        const timer = setTimeout(() => {
          server.closeAllConnections();
          front?.closeAll();
        }, drainMs);
        await closed;
        clearTimeout(timer);
        await gateway.close();
        if (ownDiscovery) await discovery?.close();
      })();
      return closing;
    },
  };
}

import { createLogger, type Logger } from '@flotilla/core';
import Fastify, { type FastifyInstance } from 'fastify';
import { TokenAuth } from './auth.js';
import type { ServerContext } from './context.js';
import { adminRoutes } from './http/admin-api.js';
import { ConnectionTracker } from './http/connections.js';
import { nativeRoutes } from './http/native-api.js';
import { installProblemHandlers } from './http/problems.js';
import { springRoutes } from './http/spring-api.js';
import { watchRoutes } from './http/watch-api.js';
import { ConfigMetrics } from './metrics.js';
import { Resolver } from './resolve.js';
import { KeyRing } from './secrets.js';
import { PostgresSource } from './sources/postgres-source.js';
import type { ConfigSource } from './sources/source.js';
import { WatchHub } from './watch-hub.js';

export interface ConfigServerOptions {
  /** Sources in layering order at each level (directory first, then PostgreSQL). */
  sources: ConfigSource[];
  /** Keys for `{cipher}` values; default none (secrets cannot be decrypted or encrypted). */
  keys?: KeyRing;
  /** Service and operator tokens; default none (everyone is anonymous). */
  auth?: TokenAuth;
  /** Refuse reads without a token; default false (anonymous reads see secrets encrypted). */
  requireAuth?: boolean;
  logger?: Logger;
  /** Interval of keep-alive comments on watch streams; default 15 s. */
  heartbeatMs?: number;
}

/** The config server: sources, resolver, watch hub and the HTTP APIs on one fastify app. */
export class ConfigServer {
  readonly app: FastifyInstance;
  readonly resolver: Resolver;
  readonly hub: WatchHub;
  readonly metrics = new ConfigMetrics();
  readonly logger: Logger;
  private started = false;
  private readonly connections: ConnectionTracker;

  constructor(private readonly options: ConfigServerOptions) {
    this.logger = options.logger ?? createLogger({ service: 'config-server' });
    this.resolver = new Resolver(options.sources);
    const ctx: ServerContext = {
      resolver: this.resolver,
      sources: options.sources,
      store: options.sources.find((s): s is PostgresSource => s instanceof PostgresSource),
      keys: options.keys ?? new KeyRing([]),
      auth: options.auth ?? new TokenAuth(),
      requireAuth: options.requireAuth ?? false,
      logger: this.logger,
      metrics: this.metrics,
    };
    for (const source of options.sources) {
      source.onChange(() => this.metrics.reloads.inc({ source: source.kind }));
    }
    this.hub = new WatchHub(ctx, options.heartbeatMs);
    this.app = Fastify({ logger: false, routerOptions: { maxParamLength: 500 }, bodyLimit: 1024 * 1024 });
    this.connections = new ConnectionTracker(this.app.server);
    installProblemHandlers(this.app, ctx);
    nativeRoutes(this.app, ctx, this.hub);
    watchRoutes(this.app, ctx, this.hub);
    adminRoutes(this.app, ctx);
    springRoutes(this.app, ctx);
  }

  /** Starts the sources (reads their content). `listen` calls it when needed. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    for (const source of this.options.sources) await source.start();
  }

  /** Starts and listens; resolves with the base URL. */
  async listen(options: { port?: number; host?: string } = {}): Promise<string> {
    await this.start();
    const host = options.host ?? '0.0.0.0';
    await this.app.listen({ port: options.port ?? 8888, host });
    const address = this.app.server.address();
    const port = typeof address === 'object' && address ? address.port : options.port;
    const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
    this.logger.info(
      { url, sources: this.options.sources.map((s) => s.description) },
      'config server listening',
    );
    return url;
  }

  /** Ends watch streams (clients reconnect elsewhere), stops accepting, drains, closes sources. */
  async close(): Promise<void> {
    this.hub.close();
    await this.connections.drain(this.app.close());
    this.resolver.close();
    for (const source of this.options.sources) await source.close();
  }
}

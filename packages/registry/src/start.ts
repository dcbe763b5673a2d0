import { createLogger, DefaultPorts, type Logger, newId } from '@flotilla/core';
import type { FastifyInstance } from 'fastify';
import { createRegistryServer, type RegistryServerOptions } from './http/server.js';
import type { WatchHub } from './http/watch-sse.js';
import { createRegistryMetrics } from './metrics.js';
import { Registry, type RegistryOptions } from './registry.js';
import type { RegistryStore } from './stores/store.js';
import { storeFromUrl } from './stores/store-url.js';

/** How long requests in flight may take to finish when the server stops. */
const DRAIN_MS = 500;

/** Options of `startRegistry`: the registry's, the server's, and where to listen. */
export interface StartRegistryOptions
  extends Omit<RegistryOptions, 'store' | 'hooks' | 'logger'>,
    Pick<RegistryServerOptions, 'bodyLimit' | 'watchHeartbeatMs' | 'eureka'> {
  /** A store, or `memory` (default), `postgres://…`, `etcd://…`. */
  store?: RegistryStore | string;
  /** Memory store only: snapshot file for restarts. */
  snapshotPath?: string;
  /** Default 8761 (Eureka's); 0 picks a free port. */
  port?: number;
  /** Default `0.0.0.0`. */
  host?: string;
  logger?: Logger;
}

/** A registry serving HTTP. */
export interface RunningRegistry {
  readonly registry: Registry;
  readonly app: FastifyInstance;
  readonly hub: WatchHub;
  readonly port: number;
  /** `http://127.0.0.1:<port>` (or the host it listens on). */
  readonly url: string;
  /** Stops accepting, ends watch streams, stops the passes, flushes and closes the store. */
  close(): Promise<void>;
}

/** Creates the store, the registry and its HTTP server, and starts listening. */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<RunningRegistry> {
  const nodeId = options.nodeId ?? newId();
  const logger = options.logger ?? createLogger({ service: 'registry', instance: nodeId });
  const store =
    typeof options.store === 'object'
      ? options.store
      : await storeFromUrl(options.store ?? 'memory', {
          snapshotPath: options.snapshotPath,
          nodeId,
          clock: options.clock,
          logger,
        });
  const metrics = createRegistryMetrics();
  const registry = new Registry({ ...options, store, nodeId, logger, hooks: metrics.hooks });
  metrics.bind(registry);
  await registry.start();
  let server: Awaited<ReturnType<typeof createRegistryServer>>;
  try {
    server = await createRegistryServer({ ...options, registry, metrics, logger });
    await server.app.listen({ port: options.port ?? DefaultPorts.registry, host: options.host ?? '0.0.0.0' });
  } catch (error) {
    await registry.stop().catch(() => {});
    throw error;
  }
  const address = server.app.server.address();
  const port =
    typeof address === 'object' && address ? address.port : (options.port ?? DefaultPorts.registry);
  const host =
    options.host && options.host !== '0.0.0.0' && options.host !== '::' ? options.host : '127.0.0.1';
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  let closing: Promise<void> | undefined;
  return {
    registry,
    app: server.app,
    hub: server.hub,
    port,
    url,
    close() {
      closing ??= (async () => {
        // Requests in flight get a moment to finish; then connections still open (idle ones a
        // client opened and never used) are cut, so shutdown never waits on a client's timeout.
        const force = setTimeout(() => server.app.server.closeAllConnections(), DRAIN_MS);
        try {
          await server.app.close();
        } finally {
          clearTimeout(force);
        }
        await registry.stop();
      })();
      return closing;
    },
  };
}

import { readFile } from 'node:fs/promises';
import {
  type CommandDefinition,
  createLogger,
  DefaultPorts,
  EnvVars,
  portOption,
  stringOption,
  UsageError,
  waitForShutdown,
} from '@flotilla/core';
import { issuerCommand, tokenCommand } from './token/commands.js';

/** How long requests in flight get to finish after SIGTERM. */
const DRAIN_MS = 10_000;

function workersOption(values: Record<string, unknown>): number {
  const text = stringOption(values as never, 'workers');
  if (text === undefined) return 1;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 256)
    throw new UsageError(`--workers should be an integer in [1, 256], got "${text}"`);
  return n;
}

/** The PEM text of `--upstream-ca`, checked before anything starts. */
async function upstreamCaOption(values: Record<string, unknown>): Promise<string | undefined> {
  const file = stringOption(values as never, 'upstream-ca');
  if (file === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError(
      `--upstream-ca: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? error})`,
    );
  }
  const { checkCaBundle } = await import('./upstreams/upstreams.js');
  try {
    return checkCaBundle(pem, '--upstream-ca');
  } catch (error) {
    throw new UsageError(`${(error as Error).message} (${file})`);
  }
}

/** `flotilla gateway`: the API gateway in the foreground. */
export const gatewayCommand: CommandDefinition = {
  name: 'gateway',
  summary: 'Run the API gateway (routes, proxying, admin API) in the foreground',
  usage:
    '[--port <port>] [--admin-port <port>] [--host <host>] [--routes <file> | --config-url <url>] [--registry-url <url>] [--redis-url <url>] [--upstream-ca <file>] [--workers <n>] [--no-fast-path]',
  options: {
    port: {
      type: 'string',
      placeholder: '<port>',
      description: `Port to listen on (default ${DefaultPorts.gateway})`,
    },
    'admin-port': {
      type: 'string',
      placeholder: '<port>',
      description: `Admin API port (default ${DefaultPorts.gatewayAdmin})`,
    },
    host: { type: 'string', placeholder: '<host>', description: 'Address to listen on (default 0.0.0.0)' },
    routes: {
      type: 'string',
      placeholder: '<file>',
      description: 'Routes YAML file, reloaded when it changes',
    },
    'config-url': {
      type: 'string',
      placeholder: '<url>',
      description: 'Read routes from the config server (service gateway, key routes) and follow its changes',
    },
    'registry-url': {
      type: 'string',
      placeholder: '<url>',
      description: `Registry for service targets (default ${EnvVars.registryUrl})`,
    },
    'redis-url': {
      type: 'string',
      placeholder: '<url>',
      description:
        'Redis for rate limits with store: redis, shared by every gateway (default FLOTILLA_REDIS_URL)',
    },
    'upstream-ca': {
      type: 'string',
      placeholder: '<file>',
      description: 'PEM file of CA certificates trusted for https upstreams, besides the public roots',
    },
    workers: {
      type: 'string',
      placeholder: '<n>',
      description: 'Worker processes sharing the port (node:cluster; default 1)',
    },
    'no-fast-path': {
      type: 'boolean',
      description: 'Serve every request through node:http, without the fast-path front',
    },
  },
  async run({ values }, io) {
    const port = portOption(values, 'port') ?? DefaultPorts.gateway;
    const adminPort = portOption(values, 'admin-port') ?? DefaultPorts.gatewayAdmin;
    const routesFile = stringOption(values, 'routes');
    const configUrl = stringOption(values, 'config-url');
    if (routesFile !== undefined && configUrl !== undefined) {
      throw new UsageError('--routes and --config-url are alternatives; give one of them');
    }
    const workers = workersOption(values);
    const upstreamCa = await upstreamCaOption(values);
    const cluster = (await import('node:cluster')).default;
    const logger = createLogger({
      service: 'gateway',
      destination: io.stdout,
      bindings: { pid: process.pid },
    });
    if (workers > 1 && cluster.isPrimary) {
      const { runPrimary } = await import('./cluster.js');
      return runPrimary(workers, logger, {
        port: adminPort,
        host: stringOption(values, 'host') ?? '0.0.0.0',
      });
    }
    const shutdown = waitForShutdown();
    // Loaded here, not at the top: `flotilla --help` and other commands never pay for the server.
    const { startGateway } = await import('./start.js');
    const running = await startGateway({
      port,
      // A worker's own admin API is on loopback for the primary, which serves the admin port.
      adminPort: cluster.isWorker ? 0 : adminPort,
      adminHost: cluster.isWorker ? '127.0.0.1' : undefined,
      host: stringOption(values, 'host') ?? '0.0.0.0',
      routesFile,
      configUrl: configUrl ?? (routesFile === undefined ? io.env[EnvVars.configUrl] : undefined),
      registryUrl: stringOption(values, 'registry-url') ?? io.env[EnvVars.registryUrl],
      redisUrl: stringOption(values, 'redis-url') ?? io.env.FLOTILLA_REDIS_URL,
      upstreamCa,
      fastPath: values['no-fast-path'] !== true,
      logger,
    });
    if (cluster.isWorker) {
      const { announceWorker } = await import('./cluster.js');
      announceWorker(running.metrics.registry, running.adminUrl);
    }
    logger.info(
      { url: running.url, admin: running.adminUrl, routes: running.gateway.routes.length },
      `gateway listening on ${running.url} (admin ${running.adminUrl})`,
    );
    const signal = await shutdown;
    logger.info({ signal }, 'gateway stopping: no new connections, draining requests in flight');
    await running.close(DRAIN_MS);
    logger.info('gateway stopped');
    // A cluster worker's IPC channel would keep it alive after its servers closed.
    if (cluster.isWorker) cluster.worker?.disconnect();
    return 0;
  },
};

/** Commands this package adds to `flotilla`. */
export const commands: CommandDefinition[] = [gatewayCommand, tokenCommand, issuerCommand];

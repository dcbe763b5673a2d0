import {
  type CommandDefinition,
  createLogger,
  DefaultPorts,
  newId,
  portOption,
  stringOption,
  UsageError,
  waitForShutdown,
} from '@flotilla/core';

/** `flotilla registry`: the registry server in the foreground. */
export const registryCommand: CommandDefinition = {
  name: 'registry',
  summary: 'Run the service registry (native API, watch stream, Eureka API) in the foreground',
  usage: '[--port <port>] [--host <host>] [--store memory|postgres://…|etcd://…] [--snapshot <file>]',
  options: {
    port: {
      type: 'string',
      placeholder: '<port>',
      description: `Port to listen on (default ${DefaultPorts.registry})`,
    },
    host: { type: 'string', placeholder: '<host>', description: 'Address to listen on (default 0.0.0.0)' },
    store: {
      type: 'string',
      placeholder: '<store>',
      description: 'memory (default), postgres://… (shared by replicas) or etcd://host:port[/prefix]',
    },
    snapshot: {
      type: 'string',
      placeholder: '<file>',
      description: 'Memory store: save instances to this file and restore them on restart',
    },
    'node-id': {
      type: 'string',
      placeholder: '<id>',
      description: 'Name of this registry process (default a new id)',
    },
  },
  async run({ values }, io) {
    const nodeId = stringOption(values, 'node-id') ?? newId();
    const logger = createLogger({ service: 'registry', instance: nodeId, destination: io.stdout });
    const shutdown = waitForShutdown();
    const store = stringOption(values, 'store') ?? 'memory';
    if (!/^(memory|(postgres|postgresql|etcd|etcds):\/\/.+)$/i.test(store)) {
      throw new UsageError(
        `--store should be memory, postgres://… or etcd://host:port[/prefix], got "${redact(store)}"`,
      );
    }
    if (stringOption(values, 'snapshot') !== undefined && store !== 'memory') {
      throw new UsageError('--snapshot applies to the memory store only');
    }
    // Loaded here, not at the top: `flotilla --help` and other commands never pay for the server.
    const { startRegistry } = await import('./start.js');
    const running = await startRegistry({
      port: portOption(values, 'port') ?? DefaultPorts.registry,
      host: stringOption(values, 'host') ?? '0.0.0.0',
      store,
      snapshotPath: stringOption(values, 'snapshot'),
      nodeId,
      logger,
    });
    logger.info(
      { url: running.url, port: running.port, store: running.registry.store.kind, node: nodeId },
      `registry listening on ${running.url}`,
    );
    const signal = await shutdown;
    logger.info({ signal }, 'registry stopping: closing watch streams, flushing the store');
    await running.close();
    logger.info('registry stopped');
    return 0;
  },
};

/** A URL with its password hidden. */
function redact(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@');
}

/** Commands this package adds to `flotilla`. */
export const commands: CommandDefinition[] = [registryCommand];

import {
  type CommandDefinition,
  createLogger,
  portOption,
  stringOption,
  UsageError,
  waitForShutdown,
} from '@flotilla/core';
import { assertDatabaseName } from './database.js';
import { EmbeddedPostgres } from './embedded/embedded-postgres.js';

/** `flotilla postgres`: embedded PostgreSQL in the foreground. */
export const postgresCommand: CommandDefinition = {
  name: 'postgres',
  summary: 'Run embedded PostgreSQL in the foreground and print its URL',
  usage: '[--data-dir <dir>] [--port <port>] [--database <name>]... [--json]',
  options: {
    'data-dir': {
      type: 'string',
      placeholder: '<dir>',
      description: 'Data directory (default .flotilla/postgres)',
    },
    port: {
      type: 'string',
      placeholder: '<port>',
      description: 'Preferred port (default 5432; a free one when taken)',
    },
    database: {
      type: 'string',
      placeholder: '<name>',
      multiple: true,
      description: 'Create this database if missing and print its URL (repeatable)',
    },
    json: { type: 'boolean', description: 'Print one JSON line when ready, for scripts' },
  },
  async run({ values }, io) {
    const databases = (values.database as string[] | undefined) ?? [];
    for (const name of databases) {
      try {
        assertDatabaseName(name);
      } catch (error) {
        throw new UsageError(`--database: ${(error as Error).message}`);
      }
    }
    const logger = createLogger({ service: 'postgres', destination: io.stderr });
    const server = new EmbeddedPostgres({
      dataDir: stringOption(values, 'data-dir'),
      port: portOption(values, 'port'),
      logger,
    });
    const shutdown = waitForShutdown();
    await server.start();
    const urls: Record<string, string> = {};
    for (const name of databases) urls[name] = await server.ensureDatabase(name);

    if (values.json) {
      const ready = {
        ready: true,
        url: server.url,
        port: server.port,
        pid: process.pid,
        serverPid: server.serverPid,
        databases: urls,
      };
      io.stdout.write(`${JSON.stringify(ready)}\n`);
    } else {
      io.stdout.write(`PostgreSQL is ready: ${server.url}\n`);
      for (const [name, url] of Object.entries(urls)) io.stdout.write(`database ${name}: ${url}\n`);
      io.stdout.write(`data directory: ${server.dataDir}\nPress Ctrl-C to stop.\n`);
    }

    const signal = await shutdown;
    logger.info({ signal }, 'stopping embedded PostgreSQL');
    await server.stop();
    return 0;
  },
};

/** Commands this package adds to `flotilla`. */
export const commands: CommandDefinition[] = [postgresCommand];

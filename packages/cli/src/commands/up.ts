import {
  type CommandDefinition,
  createLogger,
  EnvVars,
  portOption,
  stringOption,
  waitForShutdown,
} from '@flotilla/core';
import { EmbeddedPostgres } from '@flotilla/postgres';

/** Platform components not built yet; `up` says so instead of pretending. */
const NOT_YET = ['registry (8761)', 'config server (8888)', 'gateway (8080/8081)', 'reference services'];

/**
 * `flotilla up`: runs the local system. Today that is the embedded PostgreSQL every other
 * component stores into; the registry, config server, gateway and the reference system join as
 * they are built.
 */
export const upCommand: CommandDefinition = {
  name: 'up',
  summary: 'Run the local Flotilla system in the foreground (today: embedded PostgreSQL)',
  usage: '[--data-dir <dir>] [--port <port>]',
  options: {
    'data-dir': {
      type: 'string',
      placeholder: '<dir>',
      description: 'PostgreSQL data directory (default .flotilla/postgres)',
    },
    port: {
      type: 'string',
      placeholder: '<port>',
      description: 'Preferred PostgreSQL port (default 5432, else a free one)',
    },
  },
  async run({ values }, io) {
    const log = createLogger({ service: 'flotilla-up', destination: io.stderr });
    const external = io.env[EnvVars.databaseUrl];
    let pg: EmbeddedPostgres | undefined;
    if (external) {
      io.stdout.write(`PostgreSQL   external (${EnvVars.databaseUrl} is set)\n`);
    } else {
      pg = new EmbeddedPostgres({
        dataDir: stringOption(values, 'data-dir'),
        port: portOption(values, 'port'),
        logger: log,
      });
      await pg.start();
      io.stdout.write(`PostgreSQL   ${pg.url}   (embedded)\n`);
    }
    for (const component of NOT_YET) io.stdout.write(`not yet built: ${component}\n`);
    io.stdout.write('Flotilla is up. Press Ctrl-C to stop.\n');
    const signal = await waitForShutdown();
    log.info({ signal }, 'stopping');
    await pg?.stop();
    io.stdout.write('Flotilla stopped.\n');
    return 0;
  },
};

/**
 * The `./cli` entry: commands `flotilla` loads from this package (see `@flotilla/cli`'s
 * COMMAND_PACKAGES).
 */
import { type CommandDefinition, createLogger } from '@flotilla/core';
import { adapterFromUrl } from '../adapter-url.js';
import { createBusCommand } from './bus-command.js';

/**
 * `flotilla bus dlq …` for any bus URL: the adapter is picked by the URL's scheme and imported
 * on use (so other `flotilla` commands never load a broker driver), with a tool's footprint —
 * few connections, no migrations.
 */
export const busCommand: CommandDefinition = createBusCommand(async (url, io, { prefix }) => {
  const adapter = await adapterFromUrl(url, {
    footprint: 'small',
    logger: createLogger({ service: 'flotilla-bus', destination: io.stderr, level: 'warn' }),
    ...(prefix === undefined ? {} : { prefix }),
  });
  await adapter.connect();
  return adapter;
});

export const commands: CommandDefinition[] = [busCommand];

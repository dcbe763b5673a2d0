import { createBusCommand } from '@flotilla/bus';
import { type CommandDefinition, createLogger } from '@flotilla/core';

/**
 * `flotilla bus dlq …` for a PostgreSQL bus. When more adapters contribute, the command moves to
 * a place that can pick the adapter by the URL's scheme.
 */
export const busCommand: CommandDefinition = createBusCommand(async (url, io) => {
  if (!/^postgres(ql)?:\/\//.test(url)) {
    throw new Error(`This flotilla knows only postgres:// bus URLs, got a ${url.split(':')[0]}: URL`);
  }
  // Loaded on use, so other `flotilla` commands never load the pg driver.
  const { createPostgresAdapter } = await import('./adapter.js');
  const adapter = createPostgresAdapter({
    url,
    migrate: false,
    maxConnections: 2,
    logger: createLogger({ service: 'flotilla-bus', destination: io.stderr, level: 'warn' }),
  });
  await adapter.connect();
  return adapter;
});

export const commands: CommandDefinition[] = [busCommand];

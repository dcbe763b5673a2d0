/**
 * The run-wide PostgreSQL decision made in the global setup: the configured server, the local
 * one, or an embedded server started for this run.
 */
import { join } from 'node:path';
import { EmbeddedPostgres } from '@flotilla/postgres';
import { freePort } from '../ports.js';
import type { ProvidedPostgres } from '../provided.js';
import { makeTempDir } from '../temp-dir.js';
import { configuredPostgresUrl, DEFAULT_POSTGRES_URL, probePostgres } from './postgres.js';
import { describeError } from './probe.js';

/** What the workers are told, and how to undo what was started for them. */
export interface PostgresForRun {
  provided: ProvidedPostgres;
  /** Stops the embedded server and removes its files; a no-op when none was started. */
  teardown(): Promise<void>;
}

/** Starts an embedded PostgreSQL in a fresh temporary directory on a free port. */
export async function startEmbeddedPostgres(): Promise<{ url: string; stop(): Promise<void> }> {
  const temp = await makeTempDir('testkit-pg');
  const server = new EmbeddedPostgres({ dataDir: join(temp.dir, 'data'), port: await freePort() });
  const cleanup = async (): Promise<void> => {
    await server.stop();
    await temp.remove();
  };
  try {
    await server.start();
  } catch (error) {
    await cleanup().catch(() => {});
    throw error;
  }
  return { url: server.url, stop: cleanup };
}

/**
 * Probes the configured server (`FLOTILLA_TEST_POSTGRES_URL`, `DATABASE_URL`) or the local
 * default. Only when nothing was configured and the default does not answer does it start an
 * embedded server: an explicit URL means "this server", and testing another would hide that.
 */
export async function choosePostgresForRun(
  options: {
    configuredUrl?: string | undefined;
    defaultUrl?: string;
    startEmbedded?: () => Promise<{ url: string; stop(): Promise<void> }>;
    log?: (message: string) => void;
  } = {},
): Promise<PostgresForRun> {
  const configured = 'configuredUrl' in options ? options.configuredUrl : configuredPostgresUrl();
  const noop = async (): Promise<void> => {};
  const probe = await probePostgres(configured ?? options.defaultUrl ?? DEFAULT_POSTGRES_URL);
  if (probe.ok) return { provided: { url: probe.url }, teardown: noop };
  if (configured !== undefined) return { provided: { reason: probe.reason }, teardown: noop };
  try {
    const embedded = await (options.startEmbedded ?? startEmbeddedPostgres)();
    (options.log ?? console.warn)(`[testkit] ${probe.reason}; using embedded PostgreSQL at ${embedded.url}`);
    return { provided: { url: embedded.url, embedded: true }, teardown: embedded.stop };
  } catch (error) {
    const reason = `${probe.reason}; embedded PostgreSQL did not start: ${describeError(error, 2_000)}`;
    return { provided: { reason }, teardown: noop };
  }
}

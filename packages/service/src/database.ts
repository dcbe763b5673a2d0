import { ConfigurationError, EnvVars, type Logger } from '@flotilla/core';
import { createPool, databaseUrl, ensureDatabase, migrate, redactUrl } from '@flotilla/postgres';
import type pg from 'pg';
import type { Dependency } from './dependencies.js';

/** The service's own database. */
export interface DatabaseOptions {
  /** Directory of `NNNN_name.sql` migrations run at start (a path or `file:` URL). */
  migrations?: string | URL;
  /** Database name when it is created on a shared server; default the service name (dashes → `_`). */
  name?: string;
  /** Pool size; default 10. */
  max?: number;
}

/**
 * Where the service's database lives: `DATABASE_URL` as given, or a database named after the
 * service on the server at `FLOTILLA_POSTGRES_URL` (what `flotilla up` passes, pointing at its
 * embedded PostgreSQL), created on first start.
 */
export function resolveDatabase(
  service: string,
  options: DatabaseOptions,
  env: NodeJS.ProcessEnv,
): { url: string; create?: { serverUrl: string; name: string } } {
  const direct = env[EnvVars.databaseUrl];
  if (direct) return { url: direct };
  const server = env[EnvVars.postgresUrl];
  if (server) {
    const name = options.name ?? service.replaceAll('-', '_');
    return { url: databaseUrl(server, name), create: { serverUrl: server, name } };
  }
  throw new ConfigurationError(
    `Service ${service} declares a database but neither ${EnvVars.databaseUrl} nor ${EnvVars.postgresUrl} is set: ` +
      `set ${EnvVars.databaseUrl} to its database, or ${EnvVars.postgresUrl} to a server on which it creates one ` +
      '(`flotilla up` sets it; `flotilla postgres` runs an embedded server)',
    { data: { field: EnvVars.databaseUrl } },
  );
}

/** The database as a start-up dependency: reachable (and created when on a shared server). */
export function databaseDependency(
  target: ReturnType<typeof resolveDatabase>,
  pool: () => pg.Pool,
): Dependency {
  let created = false;
  return {
    name: 'database',
    async check() {
      try {
        if (target.create && !created) {
          await ensureDatabase(target.create.serverUrl, target.create.name);
          created = true;
        }
        await pool().query('SELECT 1');
        return undefined;
      } catch (error) {
        return `PostgreSQL at ${redactUrl(target.url)}: ${(error as Error).message || String(error)}`;
      }
    },
  };
}

/** Opens the pool and runs migrations (several instances starting at once take turns on a lock). */
export function openDatabase(
  service: string,
  url: string,
  options: DatabaseOptions,
  log: Logger,
): { pool: pg.Pool; migrate(): Promise<number[]> } {
  const pool = createPool({ url, max: options.max, applicationName: service, logger: log });
  return {
    pool,
    migrate: async () => (options.migrations ? migrate({ pool, dir: options.migrations, logger: log }) : []),
  };
}

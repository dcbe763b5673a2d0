import { ConfigurationError, createLogger, EnvVars, type Logger } from '@flotilla/core';
import pg from 'pg';
import { parsePostgresUrl, redactUrl } from './urls.js';

/** Options of `createPool`; everything has a default. */
export interface PoolOptions {
  /** Connection URL; default `DATABASE_URL`. */
  url?: string;
  /** Maximum number of connections; default 10. */
  max?: number;
  /** Milliseconds an idle connection is kept; default 30 s. */
  idleTimeoutMs?: number;
  /** Milliseconds to wait for a connection before failing; default 10 s. */
  connectionTimeoutMs?: number;
  /** Server-side statement timeout in milliseconds; default none. */
  statementTimeoutMs?: number;
  /** `application_name` shown in `pg_stat_activity`; default `flotilla`. */
  applicationName?: string;
  /** Where pool errors are logged; default a `postgres` logger. */
  logger?: Logger;
}

let defaultLogger: Logger | undefined;

function poolLogger(logger: Logger | undefined): Logger {
  if (logger) return logger;
  defaultLogger ??= createLogger({ service: 'postgres' });
  return defaultLogger;
}

function positiveInteger(
  options: PoolOptions,
  field: keyof PoolOptions,
  fallback?: number,
): number | undefined {
  const value = options[field] ?? fallback;
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || (field === 'max' && value < 1)) {
    throw new ConfigurationError(`Pool option ${field} should be a positive integer, got ${String(value)}`, {
      data: { field, value },
    });
  }
  return value;
}

/**
 * A pg pool for `options.url` or `DATABASE_URL`. Errors of idle connections (server restart,
 * network cut) are logged instead of crashing the process; the pool replaces the connection.
 */
export function createPool(options: PoolOptions = {}): pg.Pool {
  const url = options.url ?? process.env[EnvVars.databaseUrl];
  if (url === undefined || url === '') {
    throw new ConfigurationError(
      `No PostgreSQL URL: pass options.url or set ${EnvVars.databaseUrl} (e.g. postgres://user@host:5432/db)`,
      { data: { field: EnvVars.databaseUrl } },
    );
  }
  parsePostgresUrl(url, options.url === undefined ? EnvVars.databaseUrl : 'url');
  const logger = poolLogger(options.logger);
  const config: pg.PoolConfig = {
    connectionString: url,
    max: positiveInteger(options, 'max', 10),
    idleTimeoutMillis: positiveInteger(options, 'idleTimeoutMs', 30_000),
    connectionTimeoutMillis: positiveInteger(options, 'connectionTimeoutMs', 10_000),
    application_name: options.applicationName ?? 'flotilla',
  };
  const statementTimeout = positiveInteger(options, 'statementTimeoutMs');
  if (statementTimeout !== undefined) config.statement_timeout = statementTimeout;
  const pool = new pg.Pool(config);
  pool.on('error', (err) => {
    logger.warn({ err, url: redactUrl(url) }, 'idle PostgreSQL connection failed; the pool will replace it');
  });
  return pool;
}

/** Transaction isolation levels accepted by `withTransaction`. */
export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

const ISOLATION_LEVELS: ReadonlySet<string> = new Set(['read committed', 'repeatable read', 'serializable']);

/**
 * Runs `fn` inside BEGIN/COMMIT on one pooled connection and returns its result. When `fn`
 * throws, the transaction is rolled back and the error rethrown unchanged.
 */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: { isolation?: IsolationLevel } = {},
): Promise<T> {
  if (options.isolation !== undefined && !ISOLATION_LEVELS.has(options.isolation)) {
    throw new ConfigurationError(
      `isolation should be one of ${[...ISOLATION_LEVELS].join(', ')}, got "${String(options.isolation)}"`,
      { data: { field: 'isolation', value: options.isolation } },
    );
  }
  const client = await pool.connect();
  let broken: Error | undefined;
  try {
    await client.query(options.isolation ? `BEGIN ISOLATION LEVEL ${options.isolation}` : 'BEGIN');
    try {
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        // The connection is unusable; destroy it instead of returning it to the pool.
        broken = rollbackError instanceof Error ? rollbackError : new Error(String(rollbackError));
      }
      throw error;
    }
  } finally {
    client.release(broken);
  }
}

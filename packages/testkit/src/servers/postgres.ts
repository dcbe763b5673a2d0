/**
 * PostgreSQL for tests: one fresh database per test on the configured server (or on the
 * embedded server the global setup started), dropped afterwards.
 */
import { dropDatabase, ensureDatabase } from '@flotilla/postgres';
import pg from 'pg';
import { uniqueToken } from '../names.js';
import { providedPostgres } from '../provided.js';
import { PROBE_TIMEOUT_MS, type ProbeResult, probeOnce, reachableOrSkip, type SkipFn } from './probe.js';

export const DEFAULT_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

/** The URL set by `FLOTILLA_TEST_POSTGRES_URL` or `DATABASE_URL`, if any. */
export function configuredPostgresUrl(): string | undefined {
  const url = process.env.FLOTILLA_TEST_POSTGRES_URL || process.env.DATABASE_URL;
  return url === undefined || url === '' ? undefined : url;
}

/** Server URL tests use: the global setup's choice, else the env, else the local server on 5432. */
export function postgresServerUrl(): string {
  return providedPostgres()?.url ?? configuredPostgresUrl() ?? DEFAULT_POSTGRES_URL;
}

/** Connects and runs `SELECT 1`; cached per process and URL. */
export function probePostgres(url?: string): Promise<ProbeResult> {
  const provided = providedPostgres();
  if (url === undefined && provided?.url === undefined && provided?.reason !== undefined) {
    // The global setup already tried the configured server and an embedded one.
    return Promise.resolve({ ok: false, reason: provided.reason });
  }
  return probeOnce('postgres', url ?? postgresServerUrl(), async (target) => {
    const client = new pg.Client({
      connectionString: target,
      connectionTimeoutMillis: PROBE_TIMEOUT_MS,
      query_timeout: PROBE_TIMEOUT_MS,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('SELECT 1');
    } finally {
      await client.end().catch(() => {});
    }
  });
}

/** A database of its own for one test. */
export interface PostgresFixture {
  /** URL of the test's own database. */
  readonly url: string;
  /** URL of the server's maintenance database the test database was created from. */
  readonly serverUrl: string;
  /** Name of the test's database, e.g. `t_3f9a0c12d4e5`. */
  readonly database: string;
  /** A pool on the test's database, created on first use and ended after the test. */
  readonly pool: pg.Pool;
}

/** A test database plus the call that drops it. */
export interface PostgresResource extends PostgresFixture {
  /** Ends the pool and drops the database (WITH (FORCE)). */
  release(): Promise<void>;
}

/**
 * Creates a fresh database for a test. Skips through `skip` (or fails in required mode) when
 * the server is unreachable.
 */
export async function usePostgres(
  options: { skip?: SkipFn; serverUrl?: string } = {},
): Promise<PostgresResource> {
  const serverUrl = reachableOrSkip('postgres', await probePostgres(options.serverUrl), options.skip);
  const database = uniqueToken();
  const url = await ensureDatabase(serverUrl, database);
  let pool: pg.Pool | undefined;
  return {
    url,
    serverUrl,
    database,
    get pool() {
      if (pool === undefined) {
        pool = new pg.Pool({ connectionString: url, max: 4 });
        // Idle clients of a dropped database report an error; the test is over by then.
        pool.on('error', () => {});
      }
      return pool;
    },
    async release() {
      await pool?.end().catch(() => {});
      await dropDatabase(serverUrl, database, { force: true });
    },
  };
}

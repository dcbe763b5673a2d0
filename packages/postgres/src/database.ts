import { UnavailableError, ValidationError } from '@flotilla/core';
import pg from 'pg';
import { databaseUrl, parsePostgresUrl, redactUrl } from './urls.js';

const DATABASE_NAME = /^[a-z_][a-z0-9_]*$/;
const MAX_IDENTIFIER_LENGTH = 63;

/** Throws a ValidationError unless `name` is a lower-case SQL identifier of at most 63 characters. */
export function assertDatabaseName(name: string): void {
  let problem: string | undefined;
  if (typeof name !== 'string' || !DATABASE_NAME.test(name)) {
    problem = 'should be a lower-case identifier: a-z, 0-9 and _, not starting with a digit';
  } else if (name.length > MAX_IDENTIFIER_LENGTH) {
    problem = `should be at most ${MAX_IDENTIFIER_LENGTH} characters, got ${name.length}`;
  }
  if (problem) {
    throw new ValidationError(`Database name "${String(name)}" ${problem}`, {
      data: { errors: [{ field: 'name', message: problem }], value: name },
    });
  }
}

async function withAdminClient<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  parsePostgresUrl(serverUrl, 'serverUrl');
  const client = new pg.Client({ connectionString: serverUrl, application_name: 'flotilla' });
  // A server that goes away mid-call surfaces as a rejected query; don't crash on the event.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    throw new UnavailableError(`Cannot connect to PostgreSQL at ${redactUrl(serverUrl)}: ${String(error)}`, {
      cause: error,
      data: { url: redactUrl(serverUrl) },
    });
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** True for the errors PostgreSQL raises when a concurrent CREATE DATABASE of the same name won. */
function isAlreadyExists(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // 42P04 duplicate_database; 23505 when both passed the existence check and raced on pg_database.
  return code === '42P04' || code === '23505';
}

/**
 * Creates database `name` on the server at `serverUrl` unless it exists, and returns its URL.
 * Safe when several processes ensure the same database at once.
 */
export async function ensureDatabase(serverUrl: string, name: string): Promise<string> {
  assertDatabaseName(name);
  await withAdminClient(serverUrl, async (client) => {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return;
    try {
      await client.query(`create database ${client.escapeIdentifier(name)}`);
    } catch (error) {
      if (!isAlreadyExists(error)) throw error;
    }
  });
  return databaseUrl(serverUrl, name);
}

/** Options of `dropDatabase`. */
export interface DropDatabaseOptions {
  /** Terminate open connections to the database first (`WITH (FORCE)`); default false. */
  force?: boolean;
}

/** Drops database `name` on the server at `serverUrl` if it exists. */
export async function dropDatabase(
  serverUrl: string,
  name: string,
  options: DropDatabaseOptions = {},
): Promise<void> {
  assertDatabaseName(name);
  await withAdminClient(serverUrl, async (client) => {
    const force = options.force ? ' with (force)' : '';
    await client.query(`drop database if exists ${client.escapeIdentifier(name)}${force}`);
  });
}

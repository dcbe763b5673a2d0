import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { ConfigurationError, EnvVars, type Logger } from '@flotilla/core';
import pg from 'pg';
import { MigrationError } from './errors.js';
import { type MigrationFile, readMigrationFiles } from './migration-files.js';
import {
  lineAt,
  positionToIndex,
  type SqlStatement,
  splitStatements,
  statementAt,
} from './sql-statements.js';
import { parsePostgresUrl } from './urls.js';

/** Options of `migrate`. */
export interface MigrateOptions {
  /** Pool to take the migration connection from. */
  pool?: pg.Pool;
  /** Database URL, when no pool is given; default `DATABASE_URL`. */
  url?: string;
  /** Directory of `NNNN_description.sql` files (a path or a `file:` URL). */
  dir: string | URL;
  /** Table recording applied migrations, `name` or `schema.name`; default `flotilla_migrations`. */
  table?: string;
  /** Migration set within the table, so several packages can migrate one database; default `default`. */
  namespace?: string;
  /** Progress is logged here when given. */
  logger?: Logger;
}

const TABLE_NAME = /^([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}$/;

/** A signed 64-bit advisory lock key derived from `text`. */
function lockKey(text: string): string {
  return createHash('sha256').update(text).digest().readBigInt64BE(0).toString();
}

function quoteTable(table: string): string {
  return table
    .split('.')
    .map((part) => pg.escapeIdentifier(part))
    .join('.');
}

async function connect(
  options: MigrateOptions,
): Promise<{ client: pg.ClientBase; done: () => Promise<void> }> {
  if (options.pool) {
    const client = await options.pool.connect();
    let broken: Error | undefined;
    const onError = (err: Error) => {
      broken = err;
    };
    client.on('error', onError);
    return {
      client,
      done: async () => {
        client.off('error', onError);
        // A broken connection is destroyed rather than handed to the next user of the pool.
        client.release(broken);
      },
    };
  }
  const url = options.url ?? process.env[EnvVars.databaseUrl];
  if (!url) {
    throw new ConfigurationError(`migrate needs options.pool, options.url or ${EnvVars.databaseUrl}`, {
      data: { field: 'url' },
    });
  }
  parsePostgresUrl(url, options.url ? 'url' : EnvVars.databaseUrl);
  const client = new pg.Client({ connectionString: url, application_name: 'flotilla-migrate' });
  client.on('error', () => {}); // surfaces as a failed query instead
  await client.connect();
  return { client, done: () => client.end().catch(() => {}) };
}

/**
 * Applies the pending migrations of `options.dir` and returns their versions in order.
 * Concurrent callers on one database serialize on an advisory lock; each file runs in its own
 * transaction, so a failure leaves nothing of that file behind and throws a MigrationError
 * naming the file and the statement.
 */
export async function migrate(options: MigrateOptions): Promise<number[]> {
  const table = options.table ?? 'flotilla_migrations';
  const namespace = options.namespace ?? 'default';
  if (!TABLE_NAME.test(table)) {
    throw new ConfigurationError(`Migration table should be a lower-case [schema.]name, got "${table}"`, {
      data: { field: 'table', value: table },
    });
  }
  if (namespace === '') {
    throw new ConfigurationError('Migration namespace should not be empty', { data: { field: 'namespace' } });
  }
  const dir = options.dir instanceof URL ? fileURLToPath(options.dir) : options.dir;
  const files = await readMigrationFiles(dir);
  const { client, done } = await connect(options);
  // One lock per table, not per namespace: CREATE TABLE IF NOT EXISTS is not safe against a
  // concurrent creator, so two packages migrating one database take turns.
  const key = lockKey(`flotilla.migrate:${table}`);
  try {
    if (!(await client.query('select pg_try_advisory_lock($1) as ok', [key])).rows[0]?.ok) {
      options.logger?.info({ table, namespace }, 'waiting for another migrator to finish');
      await client.query('select pg_advisory_lock($1)', [key]);
    }
    try {
      await ensureTable(client, table);
      const pending = await pendingFiles(client, table, namespace, files, options.logger);
      for (const file of pending) {
        options.logger?.info({ file: file.name, namespace }, 'applying migration');
        await applyFile(client, table, namespace, file);
      }
      return pending.map((file) => file.version);
    } finally {
      await client.query('select pg_advisory_unlock($1)', [key]).catch(() => {});
    }
  } finally {
    await done();
  }
}

async function ensureTable(client: pg.ClientBase, table: string): Promise<void> {
  // Migrators of different namespaces hold different locks; this one keeps their concurrent
  // CREATE TABLE IF NOT EXISTS from colliding on the catalog.
  await client.query('begin');
  try {
    await client.query('select pg_advisory_xact_lock($1)', [lockKey(`flotilla.migrate:${table}`)]);
    await client.query(`create table if not exists ${quoteTable(table)} (
      namespace text not null,
      version bigint not null,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now(),
      primary key (namespace, version)
    )`);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  }
}

interface AppliedRow {
  version: string;
  name: string;
  checksum: string;
}

async function pendingFiles(
  client: pg.ClientBase,
  table: string,
  namespace: string,
  files: MigrationFile[],
  logger: Logger | undefined,
): Promise<MigrationFile[]> {
  const { rows } = await client.query<AppliedRow>(
    `select version, name, checksum from ${quoteTable(table)} where namespace = $1 order by version`,
    [namespace],
  );
  const applied = new Map(rows.map((row) => [Number(row.version), row]));
  const byVersion = new Map(files.map((file) => [file.version, file]));
  for (const [version, row] of applied) {
    const file = byVersion.get(version);
    if (!file) {
      logger?.warn({ version, name: row.name, namespace }, 'applied migration has no file any more');
    } else if (file.checksum !== row.checksum) {
      throw new MigrationError(
        `Migration ${file.name} was changed after it was applied (applied as ${row.name}); ` +
          'revert the edit and add a new migration instead',
        {
          code: 'MIGRATION_CHECKSUM_MISMATCH',
          data: { file: file.name, version, appliedChecksum: row.checksum, fileChecksum: file.checksum },
        },
      );
    }
  }
  const latest = Math.max(-1, ...applied.keys());
  const pending = files.filter((file) => !applied.has(file.version));
  const early = pending.find((file) => file.version < latest);
  if (early) {
    throw new MigrationError(
      `Migration ${early.name} was never applied but sorts before the latest applied version ${latest}; ` +
        `give it a version above ${latest}`,
      { code: 'MIGRATION_OUT_OF_ORDER', data: { file: early.name, version: early.version, latest } },
    );
  }
  return pending;
}

async function applyFile(client: pg.ClientBase, table: string, namespace: string, file: MigrationFile) {
  // The server answers each statement of a multi-statement query with CommandComplete before
  // the next runs, so their count names the failing statement when the error has no position.
  let completed = 0;
  const onComplete = () => {
    completed++;
  };
  const connection = (client as Partial<pg.Client>).connection;
  let phase: 'file' | 'record' = 'file';
  await client.query('begin');
  try {
    connection?.on('commandComplete', onComplete);
    try {
      await client.query(file.sql);
    } finally {
      connection?.off('commandComplete', onComplete);
    }
    phase = 'record';
    await client.query(
      `insert into ${quoteTable(table)} (namespace, version, name, checksum) values ($1, $2, $3, $4)`,
      [namespace, file.version, file.name, file.checksum],
    );
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw migrationFailure(file, error, phase === 'file' ? completed : undefined);
  }
}

interface PgErrorFields {
  message?: string;
  code?: string;
  position?: string;
  detail?: string;
  hint?: string;
  where?: string;
}

const MAX_STATEMENT_IN_MESSAGE = 500;

function migrationFailure(
  file: MigrationFile,
  error: unknown,
  completed: number | undefined,
): MigrationError {
  const pgError = (typeof error === 'object' && error !== null ? error : {}) as PgErrorFields;
  const pgMessage = pgError.message ?? String(error);
  const statements = splitStatements(file.sql);
  let statement: SqlStatement | undefined;
  let line: number | undefined;
  if (pgError.position !== undefined) {
    const index = positionToIndex(file.sql, Number(pgError.position));
    statement = statementAt(statements, index);
    line = lineAt(file.sql, index);
  } else if (completed !== undefined) {
    statement = statements[completed];
    if (statement) line = lineAt(file.sql, statement.start);
  }
  const where = line === undefined ? '' : ` at line ${line}`;
  let message = `Migration ${file.name} failed${where}: ${pgMessage}`;
  if (statement) {
    const text =
      statement.text.length > MAX_STATEMENT_IN_MESSAGE
        ? `${statement.text.slice(0, MAX_STATEMENT_IN_MESSAGE)}…`
        : statement.text;
    message += `\n  in statement: ${text}`;
  } else if (completed === undefined) {
    message += ' (while recording the migration)';
  }
  return new MigrationError(message, {
    cause: error,
    data: {
      file: file.name,
      path: file.path,
      version: file.version,
      statement: statement?.text,
      statementIndex: statement ? statements.indexOf(statement) : undefined,
      line,
      pgCode: pgError.code,
      pgMessage,
      detail: pgError.detail,
      hint: pgError.hint,
      where: pgError.where,
    },
  });
}

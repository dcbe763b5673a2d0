import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { ConfigurationError } from '@flotilla/core';
import { isTransactionControl, lineAt, splitStatements } from './sql-statements.js';

/** One versioned SQL file of a migrations directory. */
export interface MigrationFile {
  /** The integer prefix of the file name. */
  version: number;
  /** The file name, e.g. `0002_add_orders.sql`. */
  name: string;
  /** Absolute path of the file. */
  path: string;
  /** File contents. */
  sql: string;
  /** sha256 of the file contents, hex. */
  checksum: string;
}

/** `NNNN_description.sql`: at least four digits, an underscore, a description. */
export const MIGRATION_FILE_NAME = /^(\d{4,})_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$/;

/**
 * Reads the migrations of `dir`, sorted by version. Files not ending in `.sql` are ignored;
 * a malformed name, a duplicate version or a transaction-control statement (which would
 * break the one-transaction-per-file guarantee) is a ConfigurationError naming the file.
 */
export async function readMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const absolute = path.resolve(dir);
  let entries: Dirent[];
  try {
    entries = await readdir(absolute, { withFileTypes: true });
  } catch (error) {
    throw new ConfigurationError(`Cannot read the migrations directory ${absolute}: ${String(error)}`, {
      cause: error,
      data: { field: 'dir', dir: absolute },
    });
  }
  const byVersion = new Map<number, MigrationFile>();
  for (const entry of entries) {
    if (!entry.isFile() || !entry.name.endsWith('.sql')) continue;
    const match = MIGRATION_FILE_NAME.exec(entry.name);
    const version = match ? Number(match[1]) : Number.NaN;
    if (!match || !Number.isSafeInteger(version)) {
      throw new ConfigurationError(
        `Migration file name "${entry.name}" in ${absolute} should look like 0001_description.sql`,
        { data: { field: 'dir', dir: absolute, file: entry.name } },
      );
    }
    const other = byVersion.get(version);
    if (other) {
      throw new ConfigurationError(
        `Migration files "${other.name}" and "${entry.name}" in ${absolute} have the same version ${version}`,
        { data: { field: 'dir', dir: absolute, file: entry.name, conflictsWith: other.name, version } },
      );
    }
    const filePath = path.join(absolute, entry.name);
    const bytes = await readFile(filePath);
    const sql = bytes.toString('utf8');
    assertNoTransactionControl(entry.name, sql);
    byVersion.set(version, {
      version,
      name: entry.name,
      path: filePath,
      sql,
      checksum: createHash('sha256').update(bytes).digest('hex'),
    });
  }
  return [...byVersion.values()].sort((a, b) => a.version - b.version);
}

function assertNoTransactionControl(file: string, sql: string): void {
  for (const statement of splitStatements(sql)) {
    if (!isTransactionControl(statement)) continue;
    const line = lineAt(sql, statement.start);
    throw new ConfigurationError(
      `Migration ${file} line ${line}: "${statement.text}" is not allowed; ` +
        'each file already runs in its own transaction',
      { data: { field: 'dir', file, line, statement: statement.text } },
    );
  }
}

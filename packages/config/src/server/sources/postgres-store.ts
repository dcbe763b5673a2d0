import { fileURLToPath } from 'node:url';
import { type Logger, NotFoundError, ValidationError } from '@flotilla/core';
import { migrate, withTransaction } from '@flotilla/postgres';
import type pg from 'pg';
import { assertKey, assertName } from '../../names.js';
import { isVersionRange } from './source.js';

/**
 * The PostgreSQL config store: (service, env, versions, key) → JSON value, where every change
 * is a numbered revision with author and message. History is kept key by key, so the state at
 * any revision can be rebuilt and restored (as a new revision). Writers serialize on a
 * transaction-level advisory lock, so revision numbers follow commit order.
 */

/** Where a value applies: `service` 'application' = every service, `env`/`versions` null = all. */
export interface StoreScope {
  service: string;
  env: string | null;
  versions: string | null;
}

/** A value as stored now. */
export interface StoredValue extends StoreScope {
  key: string;
  value: unknown;
  revision: number;
}

/** One change in a revision: a new value, or `deleted`. */
export interface StoreChange extends StoreScope {
  key: string;
  value?: unknown;
  deleted?: boolean;
}

/** A revision with its changes. */
export interface RevisionInfo {
  revision: number;
  author: string;
  message: string;
  createdAt: string;
  restoredFrom: number | null;
  changes: StoreChange[];
}

export const NOTIFY_CHANNEL = 'flotilla_config';
const LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('flotilla_config_store'))";

/** Checks a scope's names; `field` prefixes the error pointers (`/body`). */
export function assertScope(scope: StoreScope, field: string): void {
  assertName(scope.service, `${field}/service`);
  if (scope.env !== null) assertName(scope.env, `${field}/env`);
  if (scope.versions !== null && !isVersionRange(scope.versions)) {
    throw new ValidationError(`${field}/versions should be a semver range, got "${scope.versions}"`, {
      data: { errors: [{ field: `${field}/versions`, message: 'should be a semver range' }] },
    });
  }
}

export class PostgresStore {
  /** Directory of this package's migrations. */
  static readonly migrationsDir = fileURLToPath(new URL('../../../migrations', import.meta.url));

  constructor(
    readonly pool: pg.Pool,
    private readonly logger?: Logger,
  ) {}

  /** Creates or updates the store's tables (namespace `config`). */
  async migrate(): Promise<number[]> {
    return migrate({
      pool: this.pool,
      dir: PostgresStore.migrationsDir,
      namespace: 'config',
      logger: this.logger,
    });
  }

  /** Current values, optionally of one service (and env). */
  async values(filter: { service?: string; env?: string | null } = {}): Promise<StoredValue[]> {
    const { rows } = await this.pool.query(
      `SELECT service, env, versions, key, value, revision::int AS revision FROM flotilla_config_values
       WHERE ($1::text IS NULL OR service = $1) AND ($2::text IS NULL OR env = $2)
       ORDER BY service, env, versions, key`,
      [filter.service ?? null, filter.env === undefined ? null : (filter.env ?? '')],
    );
    return rows.map(toStored);
  }

  /** The latest revision number (0 when the store is empty). */
  async head(): Promise<number> {
    const { rows } = await this.pool.query(
      'SELECT coalesce(max(revision), 0)::int AS head FROM flotilla_config_revisions',
    );
    return rows[0].head as number;
  }

  /**
   * Applies changes as one revision. Changes that change nothing are dropped; when nothing is
   * left, no revision is written and `null` is returned.
   */
  async apply(
    changes: readonly StoreChange[],
    meta: { author: string; message: string },
    restoredFrom: number | null = null,
  ): Promise<RevisionInfo | null> {
    for (const [i, c] of changes.entries()) {
      assertScope(c, `/changes/${i}`);
      assertKey(c.key, `/changes/${i}/key`);
    }
    const info = await withTransaction(this.pool, async (client) => {
      await client.query(LOCK_SQL);
      const effective: StoreChange[] = [];
      for (const c of changes) {
        const { rows } = await client.query(
          'SELECT value FROM flotilla_config_values WHERE service = $1 AND env = $2 AND versions = $3 AND key = $4',
          [c.service, c.env ?? '', c.versions ?? '', c.key],
        );
        const current = rows[0] as { value: unknown } | undefined;
        if (c.deleted ? current === undefined : current && sameJson(current.value, c.value)) continue;
        effective.push(c);
      }
      if (effective.length === 0) return null;
      const { rows } = await client.query(
        `INSERT INTO flotilla_config_revisions (revision, author, message, restored_from)
         SELECT coalesce(max(revision), 0) + 1, $1, $2, $3 FROM flotilla_config_revisions
         RETURNING revision::int AS revision, created_at`,
        [meta.author, meta.message, restoredFrom],
      );
      const revision = rows[0].revision as number;
      for (const c of effective) {
        const scope = [c.service, c.env ?? '', c.versions ?? '', c.key];
        const json = c.deleted ? null : JSON.stringify(c.value ?? null);
        await client.query(
          'INSERT INTO flotilla_config_changes (revision, service, env, versions, key, value) VALUES ($1, $2, $3, $4, $5, $6::jsonb)',
          [revision, ...scope, json],
        );
        if (c.deleted) {
          await client.query(
            'DELETE FROM flotilla_config_values WHERE service = $1 AND env = $2 AND versions = $3 AND key = $4',
            scope,
          );
        } else {
          await client.query(
            `INSERT INTO flotilla_config_values (service, env, versions, key, value, revision)
             VALUES ($1, $2, $3, $4, $5::jsonb, $6)
             ON CONFLICT (service, env, versions, key) DO UPDATE SET value = excluded.value, revision = excluded.revision`,
            [...scope, json, revision],
          );
        }
      }
      await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, String(revision)]);
      return {
        revision,
        author: meta.author,
        message: meta.message,
        createdAt: (rows[0].created_at as Date).toISOString(),
        restoredFrom,
        changes: effective.map(normalizeChange),
      };
    });
    if (info)
      this.logger?.info({ revision: info.revision, changes: info.changes.length }, 'config store revision');
    return info;
  }

  /** Revisions, newest first, optionally only those touching a service (and env) or key. */
  async history(
    filter: { service?: string; env?: string | null; key?: string; limit?: number; before?: number } = {},
  ): Promise<RevisionInfo[]> {
    const { rows } = await this.pool.query(
      `SELECT r.revision::int AS revision, r.author, r.message, r.created_at, r.restored_from::int AS restored_from
       FROM flotilla_config_revisions r
       WHERE ($4::bigint IS NULL OR r.revision < $4) AND EXISTS (
         SELECT 1 FROM flotilla_config_changes c WHERE c.revision = r.revision
           AND ($1::text IS NULL OR c.service = $1) AND ($2::text IS NULL OR c.env = $2)
           AND ($3::text IS NULL OR c.key = $3))
       ORDER BY r.revision DESC LIMIT $5`,
      [
        filter.service ?? null,
        filter.env === undefined ? null : (filter.env ?? ''),
        filter.key ?? null,
        filter.before ?? null,
        filter.limit ?? 50,
      ],
    );
    if (rows.length === 0) return [];
    const changes = await this.changesOf(rows.map((r) => r.revision as number));
    return rows.map((r) => toRevision(r, changes.get(r.revision as number) ?? []));
  }

  /** One revision with all its changes; 404 when it does not exist. */
  async revision(revision: number): Promise<RevisionInfo> {
    const { rows } = await this.pool.query(
      `SELECT revision::int AS revision, author, message, created_at, restored_from::int AS restored_from
       FROM flotilla_config_revisions WHERE revision = $1`,
      [revision],
    );
    if (rows.length === 0) throw new NotFoundError(`config store revision ${revision} does not exist`);
    const changes = await this.changesOf([revision]);
    return toRevision(rows[0], changes.get(revision) ?? []);
  }

  /** The values as they were right after `revision`. */
  async stateAt(revision: number): Promise<StoredValue[]> {
    const { rows } = await this.pool.query(
      `SELECT * FROM (
         SELECT DISTINCT ON (service, env, versions, key) service, env, versions, key, value, revision::int AS revision
         FROM flotilla_config_changes WHERE revision <= $1
         ORDER BY service, env, versions, key, revision DESC) s
       WHERE value IS NOT NULL ORDER BY service, env, versions, key`,
      [revision],
    );
    return rows.map(toStored);
  }

  /** Makes the values what they were right after `revision`, as a new revision. */
  async restore(revision: number, meta: { author: string; message?: string }): Promise<RevisionInfo | null> {
    await this.revision(revision); // 404 for an unknown revision
    const [target, current] = await Promise.all([this.stateAt(revision), this.values()]);
    const id = (v: StoreScope & { key: string }) =>
      `${v.service}\n${v.env ?? ''}\n${v.versions ?? ''}\n${v.key}`;
    const wanted = new Map(target.map((v) => [id(v), v]));
    const changes: StoreChange[] = [];
    for (const v of current)
      if (!wanted.has(id(v))) changes.push({ ...scopeOf(v), key: v.key, deleted: true });
    for (const v of target) changes.push({ ...scopeOf(v), key: v.key, value: v.value });
    return this.apply(
      changes,
      { author: meta.author, message: meta.message ?? `restore revision ${revision}` },
      revision,
    );
  }

  private async changesOf(revisions: number[]): Promise<Map<number, StoreChange[]>> {
    const { rows } = await this.pool.query(
      `SELECT revision::int AS revision, service, env, versions, key, value, value IS NULL AS deleted
       FROM flotilla_config_changes WHERE revision = ANY($1::bigint[]) ORDER BY revision, service, env, versions, key`,
      [revisions],
    );
    const out = new Map<number, StoreChange[]>();
    for (const r of rows) {
      const list = out.get(r.revision) ?? [];
      const scope = scopeOf({ service: r.service, env: r.env, versions: r.versions });
      list.push(
        r.deleted ? { ...scope, key: r.key, deleted: true } : { ...scope, key: r.key, value: r.value },
      );
      out.set(r.revision, list);
    }
    return out;
  }
}

function scopeOf(row: { service: string; env: string | null; versions: string | null }): StoreScope {
  return { service: row.service, env: row.env || null, versions: row.versions || null };
}

function toStored(row: Record<string, unknown>): StoredValue {
  const scope = scopeOf(row as unknown as StoreScope);
  return { ...scope, key: row.key as string, value: row.value, revision: row.revision as number };
}

function toRevision(row: Record<string, unknown>, changes: StoreChange[]): RevisionInfo {
  return {
    revision: row.revision as number,
    author: row.author as string,
    message: row.message as string,
    createdAt: (row.created_at as Date).toISOString(),
    restoredFrom: (row.restored_from as number | null) ?? null,
    changes,
  };
}

function normalizeChange(c: StoreChange): StoreChange {
  const scope = scopeOf(c);
  return c.deleted
    ? { ...scope, key: c.key, deleted: true }
    : { ...scope, key: c.key, value: c.value ?? null };
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b ?? null));
}

/** JSON with sorted object keys (jsonb does not keep key order). */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { hasErrorCode } from '@flotilla/core';
import { makeTempDir, type PostgresResource, usePostgres } from '@flotilla/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MigrationError } from './errors.js';
import { migrate } from './migrate.js';
import { createPool } from './pool.js';

let db: PostgresResource;
let pool: pg.Pool;
let temp: { dir: string; remove(): Promise<void> };

beforeAll(async () => {
  db = await usePostgres();
  pool = createPool({ url: db.url });
  temp = await makeTempDir('migrations');
});

afterAll(async () => {
  await pool?.end();
  await db?.release();
  await temp?.remove();
});

/** A fresh migrations directory holding `files`, and a fresh table name so tests don't share state. */
async function setUp(files: Record<string, string>): Promise<{ dir: string; table: string; prefix: string }> {
  const prefix = `t${randomBytes(3).toString('hex')}`;
  const dir = path.join(temp.dir, prefix);
  await mkdir(dir);
  for (const [name, sql] of Object.entries(files))
    await writeFile(path.join(dir, name), sql.replaceAll('$p', prefix));
  return { dir, table: `${prefix}_migrations`, prefix };
}

async function tableExists(name: string): Promise<boolean> {
  return (await pool.query('select to_regclass($1) is not null as present', [name])).rows[0].present;
}

async function failure(
  promise: Promise<unknown>,
): Promise<MigrationError & { data: Record<string, unknown> }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!error) throw new Error('expected the migration to fail');
  return error as MigrationError & { data: Record<string, unknown> };
}

describe('migrate', () => {
  it('applies the files in version order, once', async () => {
    const { dir, table, prefix } = await setUp({
      '0002_seed.sql': "insert into $p_items (name) values ('first');",
      '0001_items.sql': 'create table $p_items (id serial primary key, name text not null);',
      '0010_more.sql':
        "alter table $p_items add column note text; insert into $p_items (name) values ('second');",
      'README.md': 'not a migration',
    });
    expect(await migrate({ pool, dir, table })).toEqual([1, 2, 10]);
    expect(await migrate({ pool, dir, table })).toEqual([]);
    const items = await pool.query(`select name from ${prefix}_items order by id`);
    expect(items.rows.map((r) => r.name)).toEqual(['first', 'second']);
    const recorded = await pool.query(
      `select version, name, length(checksum) as len from ${table} order by version`,
    );
    expect(recorded.rows).toEqual([
      { version: '1', name: '0001_items.sql', len: 64 },
      { version: '2', name: '0002_seed.sql', len: 64 },
      { version: '10', name: '0010_more.sql', len: 64 },
    ]);
  });

  it('applies only the files added since the last run', async () => {
    const { dir, table } = await setUp({ '0001_a.sql': 'create table $p_a (id int);' });
    expect(await migrate({ url: db.url, dir, table })).toEqual([1]);
    await writeFile(path.join(dir, '0002_b.sql'), `create table ${table}_b (id int);`);
    expect(await migrate({ url: db.url, dir, table })).toEqual([2]);
  });

  it('lets five migrators start at once and applies each file exactly once', async () => {
    const { dir, table, prefix } = await setUp({
      '0001_counter.sql': 'create table $p_runs (file int not null);',
      '0002_one.sql': 'insert into $p_runs values (2); select pg_sleep(0.05);',
      '0003_two.sql': 'insert into $p_runs values (3);',
    });
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate({ url: db.url, dir, table })));
    expect(results.flat().sort()).toEqual([1, 2, 3]);
    const runs = await pool.query(
      `select file, count(*)::int as n from ${prefix}_runs group by file order by file`,
    );
    expect(runs.rows).toEqual([
      { file: 2, n: 1 },
      { file: 3, n: 1 },
    ]);
  });

  it('rolls a failing file back entirely and names the file and the statement', async () => {
    const { dir, table, prefix } = await setUp({
      '0001_ok.sql': 'create table $p_ok (id int);',
      '0002_broken.sql': [
        'create table $p_first (id int);',
        'create table $p_second (id int);',
        'insert into $p_missing values (1);',
        'create table $p_never (id int);',
      ].join('\n'),
    });
    const error = await failure(migrate({ pool, dir, table }));
    expect(hasErrorCode(error, 'MIGRATION_FAILED')).toBe(true);
    expect(error.message).toContain('0002_broken.sql');
    expect(error.message).toContain(`insert into ${prefix}_missing values (1);`);
    expect(error.message).toContain(`relation "${prefix}_missing" does not exist`);
    expect(error.data).toMatchObject({
      file: '0002_broken.sql',
      line: 3,
      statementIndex: 2,
      pgCode: '42P01',
    });
    expect(await tableExists(`${prefix}_ok`)).toBe(true);
    expect(await tableExists(`${prefix}_first`)).toBe(false);
    expect(await tableExists(`${prefix}_second`)).toBe(false);
    expect((await pool.query(`select version from ${table}`)).rows).toEqual([{ version: '1' }]);
  });

  it('names the failing statement when the server reports no position', async () => {
    const { dir, table, prefix } = await setUp({
      '0001_dupes.sql': [
        'create table $p_u (id int primary key);',
        'insert into $p_u values (1);',
        'insert into $p_u values (1);',
      ].join('\n'),
    });
    const error = await failure(migrate({ pool, dir, table }));
    expect(error.data).toMatchObject({ file: '0001_dupes.sql', statementIndex: 2, line: 3, pgCode: '23505' });
    expect(error.message).toContain(`in statement: insert into ${prefix}_u values (1);`);
    expect(await tableExists(`${prefix}_u`)).toBe(false);
  });

  it('refuses to run when an applied file was edited', async () => {
    const { dir, table, prefix } = await setUp({ '0001_a.sql': 'create table $p_a (id int);' });
    await migrate({ pool, dir, table });
    await writeFile(path.join(dir, '0001_a.sql'), `create table ${prefix}_a (id bigint);`);
    await writeFile(path.join(dir, '0002_b.sql'), `create table ${prefix}_b (id int);`);
    const error = await failure(migrate({ pool, dir, table }));
    expect(hasErrorCode(error, 'MIGRATION_CHECKSUM_MISMATCH')).toBe(true);
    expect(error.message).toContain('0001_a.sql was changed after it was applied');
    expect(await tableExists(`${prefix}_b`)).toBe(false);
  });

  it('refuses a new file that sorts before one already applied', async () => {
    const { dir, table } = await setUp({ '0001_a.sql': 'select 1;', '0003_c.sql': 'select 3;' });
    await migrate({ pool, dir, table });
    await writeFile(path.join(dir, '0002_b.sql'), 'select 2;');
    const error = await failure(migrate({ pool, dir, table }));
    expect(hasErrorCode(error, 'MIGRATION_OUT_OF_ORDER')).toBe(true);
    expect(error.message).toContain('0002_b.sql');
  });

  it('keeps the versions of different namespaces apart in one table', async () => {
    const bus = await setUp({ '0001_bus.sql': 'create table $p_outbox (id int);' });
    const registry = await setUp({ '0001_registry.sql': 'create table $p_leases (id int);' });
    const table = `${bus.prefix}_shared`;
    const [a, b] = await Promise.all([
      migrate({ pool, dir: bus.dir, table, namespace: 'bus' }),
      migrate({ pool, dir: registry.dir, table, namespace: 'registry' }),
    ]);
    expect([a, b]).toEqual([[1], [1]]);
    expect(await tableExists(`${bus.prefix}_outbox`)).toBe(true);
    expect(await tableExists(`${registry.prefix}_leases`)).toBe(true);
  });

  it.each([
    [{ '1_short.sql': 'select 1;' }, /"1_short\.sql".*0001_description\.sql/],
    [{ 'init.sql': 'select 1;' }, /"init\.sql"/],
    [
      { '0001_a.sql': 'select 1;', '0001_b.sql': 'select 2;' },
      /"0001_a\.sql" and "0001_b\.sql".*same version 1/,
    ],
    [{ '0001_tx.sql': 'create table x (id int);\ncommit;' }, /0001_tx\.sql line 2: "commit;" is not allowed/],
  ])('rejects a directory with bad files before touching the database (%j)', async (files, message) => {
    const { dir, table } = await setUp(files);
    const error = await migrate({ pool, dir, table }).catch((e: unknown) => e);
    expect(hasErrorCode(error, 'INVALID_CONFIGURATION')).toBe(true);
    expect((error as Error).message).toMatch(message);
    expect(await tableExists(table)).toBe(false);
  });

  it('rejects a bad table name and a missing directory, naming them', async () => {
    await expect(migrate({ pool, dir: temp.dir, table: 'Robert"); drop table x; --' })).rejects.toThrow(
      /Migration table should be/,
    );
    await expect(migrate({ pool, dir: path.join(temp.dir, 'nowhere') })).rejects.toThrow(/nowhere/);
  });
});

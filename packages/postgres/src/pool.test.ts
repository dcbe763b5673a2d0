import { Writable } from 'node:stream';
import { createLogger, hasErrorCode } from '@flotilla/core';
import { type PostgresResource, usePostgres } from '@flotilla/testkit';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createPool, withTransaction } from './pool.js';

let db: PostgresResource;
let pool: pg.Pool;

beforeAll(async () => {
  db = await usePostgres();
  pool = createPool({ url: db.url, max: 3 });
  await pool.query('create table notes (id int primary key, body text not null)');
});

afterAll(async () => {
  await pool?.end();
  await db?.release();
});

describe('createPool', () => {
  it('connects to the URL it is given', async () => {
    const { rows } = await pool.query('select current_database() as name');
    expect(rows[0].name).toBe(db.database);
  });

  it('falls back to DATABASE_URL', async () => {
    const saved = process.env.DATABASE_URL;
    process.env.DATABASE_URL = db.url;
    const fromEnv = createPool();
    try {
      expect((await fromEnv.query('select current_database() as name')).rows[0].name).toBe(db.database);
    } finally {
      await fromEnv.end();
      if (saved === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = saved;
    }
  });

  it('says how to configure it when there is no URL at all', () => {
    const saved = process.env.DATABASE_URL;
    delete process.env.DATABASE_URL;
    try {
      let error: unknown;
      try {
        createPool();
      } catch (e) {
        error = e;
      }
      expect(hasErrorCode(error, 'INVALID_CONFIGURATION')).toBe(true);
      expect((error as Error).message).toMatch(/set DATABASE_URL/);
    } finally {
      if (saved !== undefined) process.env.DATABASE_URL = saved;
    }
  });

  it('rejects bad options, naming the option and the value', () => {
    expect(() => createPool({ url: 'http://example.com/db' })).toThrow(/url.*http:/);
    expect(() => createPool({ url: db.url, max: 0 })).toThrow(/max should be a positive integer, got 0/);
  });

  it('logs and replaces an idle connection that the server killed, instead of crashing', async () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const watched = createPool({ url: db.url, logger: createLogger({ service: 'test', destination }) });
    try {
      const victim = await watched.connect();
      const { rows } = await victim.query('select pg_backend_pid() as pid');
      victim.release();
      await pool.query('select pg_terminate_backend($1)', [rows[0].pid]);
      await vi.waitFor(() => expect(lines.join('')).toContain('idle PostgreSQL connection failed'));
      expect((await watched.query('select 1 as one')).rows[0].one).toBe(1);
    } finally {
      await watched.end();
    }
  });
});

describe('withTransaction', () => {
  it('commits what the function wrote and returns its result', async () => {
    const result = await withTransaction(pool, async (client) => {
      await client.query("insert into notes values (1, 'kept')");
      return 'done';
    });
    expect(result).toBe('done');
    expect((await pool.query('select body from notes where id = 1')).rows).toEqual([{ body: 'kept' }]);
  });

  it('rolls everything back when the function throws, and rethrows its error', async () => {
    const failure = new Error('payment declined');
    await expect(
      withTransaction(pool, async (client) => {
        await client.query("insert into notes values (2, 'lost')");
        throw failure;
      }),
    ).rejects.toBe(failure);
    expect((await pool.query('select count(*)::int as n from notes where id = 2')).rows[0].n).toBe(0);
  });

  it('runs at the isolation level asked for', async () => {
    const level = await withTransaction(
      pool,
      async (client) => (await client.query('show transaction_isolation')).rows[0].transaction_isolation,
      { isolation: 'serializable' },
    );
    expect(level).toBe('serializable');
  });
});

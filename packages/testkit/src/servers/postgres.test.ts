import { describe, expect } from 'vitest';
import { test } from '../fixtures.js';
import { usePostgres } from './postgres.js';

describe('postgres fixture', () => {
  test('gives a test its own database to create tables in', async ({ postgres }) => {
    expect(postgres.database).toMatch(/^t_[0-9a-f]{12}$/);
    expect(new URL(postgres.url).pathname).toBe(`/${postgres.database}`);
    await postgres.pool.query('CREATE TABLE orders (id int PRIMARY KEY, item text NOT NULL)');
    await postgres.pool.query("INSERT INTO orders VALUES (1, 'book'), (2, 'lamp')");
    const { rows } = await postgres.pool.query(
      'SELECT current_database() AS db, item FROM orders ORDER BY id',
    );
    expect(rows).toEqual([
      { db: postgres.database, item: 'book' },
      { db: postgres.database, item: 'lamp' },
    ]);
  });

  test('drops a database once it is released, and never hands out the same one twice', async ({
    postgres,
  }) => {
    const other = await usePostgres();
    expect(other.database).not.toBe(postgres.database);
    await other.pool.query('CREATE TABLE leftovers (id int)');
    await other.release();
    const { rows } = await postgres.pool.query('SELECT datname FROM pg_database WHERE datname = $1', [
      other.database,
    ]);
    expect(rows).toEqual([]);
  });
});

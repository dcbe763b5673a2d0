import { randomBytes } from 'node:crypto';
import { hasErrorCode } from '@flotilla/core';
import { type PostgresResource, usePostgres } from '@flotilla/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dropDatabase, ensureDatabase } from './database.js';

let server: PostgresResource;
const created: string[] = [];

beforeAll(async () => {
  server = await usePostgres();
});

afterAll(async () => {
  for (const name of created) await dropDatabase(server.serverUrl, name, { force: true });
  await server?.release();
});

function uniqueName(): string {
  const name = `svc_${randomBytes(4).toString('hex')}`;
  created.push(name);
  return name;
}

async function currentDatabase(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('select current_database() as name')).rows[0].name;
  } finally {
    await client.end();
  }
}

describe('ensureDatabase', () => {
  it('creates the database and returns a URL that connects to it', async () => {
    const name = uniqueName();
    const url = await ensureDatabase(server.serverUrl, name);
    expect(await currentDatabase(url)).toBe(name);
  });

  it('leaves an existing database alone', async () => {
    const name = uniqueName();
    const url = await ensureDatabase(server.serverUrl, name);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query('create table kept (id int)');
    await client.end();
    expect(await ensureDatabase(server.serverUrl, name)).toBe(url);
    const again = new pg.Client({ connectionString: url });
    await again.connect();
    expect((await again.query("select to_regclass('kept') is not null as present")).rows[0].present).toBe(
      true,
    );
    await again.end();
  });

  it('succeeds for every caller when several create the same database at once', async () => {
    const name = uniqueName();
    const urls = await Promise.all(Array.from({ length: 6 }, () => ensureDatabase(server.serverUrl, name)));
    expect(new Set(urls).size).toBe(1);
    expect(await currentDatabase(urls[0] as string)).toBe(name);
  });

  it.each([
    ['Orders', 'lower-case identifier'],
    ['order-service', 'lower-case identifier'],
    ['1orders', 'lower-case identifier'],
    ['x'.repeat(64), 'at most 63 characters, got 64'],
  ])('rejects the name %j with a validation error naming the field', async (name, why) => {
    const error = await ensureDatabase(server.serverUrl, name).catch((e: unknown) => e);
    expect(hasErrorCode(error, 'VALIDATION_FAILED')).toBe(true);
    expect((error as Error).message).toContain(why);
    expect((error as { data: { errors: { field: string }[] } }).data.errors[0]?.field).toBe('name');
  });

  it('reports an unreachable server as unavailable, without the password', async () => {
    const error = await ensureDatabase('postgres://app:s3cret@127.0.0.1:1/postgres', 'orders').catch(
      (e: unknown) => e,
    );
    expect(hasErrorCode(error, 'UNAVAILABLE')).toBe(true);
    expect((error as Error).message).not.toContain('s3cret');
  });
});

describe('dropDatabase', () => {
  it('drops the database, and does nothing when it is already gone', async () => {
    const name = uniqueName();
    const url = await ensureDatabase(server.serverUrl, name);
    await dropDatabase(server.serverUrl, name);
    await expect(currentDatabase(url)).rejects.toThrow(/does not exist/);
    await expect(dropDatabase(server.serverUrl, name)).resolves.toBeUndefined();
  });
});

import { access } from 'node:fs/promises';
import path from 'node:path';
import { hasErrorCode } from '@flotilla/core';
import { makeTempDir } from '@flotilla/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresCommand, startPostgresCommand } from '../../test/postgres-command.js';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { freePort } from './ports.js';
import { isProcessAlive, waitForProcessExit } from './processes.js';

let temp: { dir: string; remove(): Promise<void> };
let dataDir: string;
const children: PostgresCommand[] = [];
const managers: EmbeddedPostgres[] = [];

beforeAll(async () => {
  temp = await makeTempDir('crash');
  dataDir = path.join(temp.dir, 'postgres');
});

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.stop();
  for (const child of children.splice(0)) await child.handle.stop();
});

afterAll(async () => {
  await temp?.remove();
});

async function child(): Promise<PostgresCommand> {
  const started = await startPostgresCommand(dataDir, await freePort());
  children.push(started);
  return started;
}

function manager(): EmbeddedPostgres {
  const created = new EmbeddedPostgres({ dataDir, port: 5432 });
  managers.push(created);
  return created;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('flotilla postgres, in a process that is stopped or dies', () => {
  it('stops PostgreSQL and exits 0 on SIGTERM', async () => {
    const running = await child();
    expect(await running.handle.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
    expect(await isProcessAlive(running.serverPid)).toBe(false);
    await expect(access(`${dataDir}.lock`)).rejects.toThrow(/ENOENT/);
  });

  it('refuses to start while another live process holds the data directory, naming it', async () => {
    const running = await child();
    const error = await manager()
      .start()
      .catch((e: unknown) => e);
    expect(hasErrorCode(error, 'DATA_DIR_LOCKED')).toBe(true);
    expect((error as Error).message).toContain(`in use by process ${running.pid}`);
    expect((error as Error).message).toContain(running.url);
  });

  it('starts after the manager was killed with -9, stopping the server it left running', async () => {
    const killed = await child();
    await query(killed.url, 'create table orders (id int); insert into orders values (1), (2)');
    await killed.handle.kill9();
    // The detached server outlives its manager: this is the state a new start must handle.
    expect(await isProcessAlive(killed.serverPid)).toBe(true);

    const next = manager();
    await next.start();
    expect(await isProcessAlive(killed.serverPid)).toBe(false);
    expect(await query(next.url, 'select count(*)::int as n from orders')).toEqual([{ n: 2 }]);
  });

  it('recovers after the manager and its server were both killed with -9', async () => {
    const killed = await child();
    await query(killed.url, 'insert into orders values (3)');
    await killed.handle.kill9();
    process.kill(-killed.serverPid, 'SIGKILL'); // the server's whole process group: postmaster and backends
    expect(await waitForProcessExit(killed.serverPid, 10_000)).toBe(true);

    const next = manager();
    await next.start();
    expect(await query(next.url, 'select count(*)::int as n from orders')).toEqual([{ n: 3 }]);
  });
});

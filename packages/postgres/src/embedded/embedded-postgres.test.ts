import { access, mkdir, readdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { hasErrorCode } from '@flotilla/core';
import { makeTempDir } from '@flotilla/testkit';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgres } from './embedded-postgres.js';
import { freePort, isPortFree } from './ports.js';
import { isProcessAlive } from './processes.js';

let temp: { dir: string; remove(): Promise<void> };
let dataDir: string;
const managers: EmbeddedPostgres[] = [];

beforeAll(async () => {
  temp = await makeTempDir('embedded');
  dataDir = path.join(temp.dir, 'postgres');
});

afterEach(async () => {
  for (const manager of managers.splice(0)) await manager.stop();
});

afterAll(async () => {
  await temp?.remove();
});

function manager(options: { port?: number } = {}): EmbeddedPostgres {
  const created = new EmbeddedPostgres({ dataDir, ...options });
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

async function systemIdentifier(url: string): Promise<string> {
  const rows = await query<{ id: string }>(
    url,
    'select system_identifier::text as id from pg_control_system()',
  );
  return rows[0]!.id;
}

/** Occupies a free port on the loopback address until `close` is called. */
async function occupyPort(): Promise<{ port: number; close(): Promise<void> }> {
  const port = await freePort();
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('EmbeddedPostgres', () => {
  let firstCluster: string;

  it('initialises the data directory on first start and serves queries', async () => {
    // What an initdb killed halfway by a previous run leaves behind.
    const leftover = `${dataDir}.initdb-999-deadbeef`;
    await mkdir(leftover);
    await writeFile(path.join(leftover, 'PG_VERSION'), '18\n');
    const pgServer = manager({ port: await freePort() });
    await pgServer.start();
    await access(path.join(dataDir, 'PG_VERSION'));
    await expect(access(leftover)).rejects.toThrow(/ENOENT/);
    expect(pgServer.url).toBe(`postgres://postgres@127.0.0.1:${pgServer.port}/postgres`);
    await query(pgServer.url, "create table kept (note text); insert into kept values ('from run 1')");
    firstCluster = await systemIdentifier(pgServer.url);
  });

  it('reuses the existing data when started again', async () => {
    const pgServer = manager({ port: await freePort() });
    await pgServer.start();
    expect(await systemIdentifier(pgServer.url)).toBe(firstCluster);
    expect(await query(pgServer.url, 'select note from kept')).toEqual([{ note: 'from run 1' }]);
  });

  it('picks another port when the configured one is taken, and prefers it next time', async () => {
    const busy = await occupyPort();
    try {
      const first = manager({ port: busy.port });
      await first.start();
      expect(first.port).not.toBe(busy.port);
      expect(await query(first.url, 'select note from kept')).toEqual([{ note: 'from run 1' }]);
      const chosen = first.port;
      await first.stop();

      const second = manager({ port: busy.port });
      await second.start();
      expect(second.port).toBe(chosen);
    } finally {
      await busy.close();
    }
  });

  it('stops cleanly: server process gone, port free, lock released', async () => {
    const pgServer = manager({ port: await freePort() });
    await pgServer.start();
    const pid = pgServer.serverPid!;
    const { url, port } = pgServer;
    await pgServer.stop();
    expect(pgServer.running).toBe(false);
    expect(await isProcessAlive(pid)).toBe(false);
    expect(await isPortFree(port)).toBe(true);
    await expect(access(`${dataDir}.lock`)).rejects.toThrow(/ENOENT/);
    await expect(query(url, 'select 1')).rejects.toThrow(/ECONNREFUSED/);
    await expect(pgServer.stop()).resolves.toBeUndefined();
  });

  it('refuses a second manager on the same data directory while the first runs', async () => {
    const first = manager({ port: await freePort() });
    await first.start();
    const error = await manager()
      .start()
      .catch((e: unknown) => e);
    expect(hasErrorCode(error, 'DATA_DIR_LOCKED')).toBe(true);
    const message = (error as Error).message;
    expect(message).toContain(dataDir);
    expect(message).toContain(`process ${process.pid}`);
    expect(message).toContain(first.url);
    expect(await query(first.url, 'select 1 as ok')).toEqual([{ ok: 1 }]);
  });

  it('creates one database per service, idempotently', async () => {
    const pgServer = manager({ port: await freePort() });
    await pgServer.start();
    const orders = await pgServer.ensureDatabase('orders');
    expect(await pgServer.ensureDatabase('orders')).toBe(orders);
    const billing = await pgServer.ensureDatabase('billing');
    expect(await query(orders, 'select current_database() as db')).toEqual([{ db: 'orders' }]);
    expect(await query(billing, 'select current_database() as db')).toEqual([{ db: 'billing' }]);
  });

  it('refuses a non-empty directory that is not a PostgreSQL data directory', async () => {
    const notData = path.join(temp.dir, 'photos');
    await mkdir(notData);
    await writeFile(path.join(notData, 'cat.jpg'), 'meow');
    const error = await new EmbeddedPostgres({ dataDir: notData }).start().catch((e: unknown) => e);
    expect((error as Error).message).toContain(`${notData} exists but is not a PostgreSQL data directory`);
    expect(await readdir(notData)).toEqual(['cat.jpg']);
    await expect(access(`${notData}.lock`)).rejects.toThrow(/ENOENT/);
  });

  it('explains what is wrong when used before start or configured badly', async () => {
    const idle = manager();
    expect(() => idle.url).toThrow(/not been started/);
    await expect(idle.ensureDatabase('orders')).rejects.toThrow(/not running/);
    expect(() => new EmbeddedPostgres({ port: 70000 })).toThrow(
      /port should be an integer in \[1, 65535\], got 70000/,
    );
  });
});

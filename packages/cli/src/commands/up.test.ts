import { fileURLToPath } from 'node:url';
import { freePort, isPortFree, makeTempDir, type TempDir, test } from '@flotilla/testkit';
import pg from 'pg';
import { afterEach, beforeEach, expect } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/flotilla.mjs', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

let temp: TempDir;
beforeEach(async () => {
  temp = await makeTempDir('up');
});
afterEach(async () => {
  await temp.remove();
});

async function selectOne(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('select 1 as one')).rows;
  } finally {
    await client.end();
  }
}

test('flotilla up runs embedded PostgreSQL, says what is not built yet, and exits 0 on SIGTERM', async ({
  processes,
}) => {
  const port = await freePort();
  const up = processes.spawn({
    name: 'flotilla up',
    command: process.execPath,
    args: [bin, 'up', '--data-dir', `${temp.dir}/pg`, '--port', String(port)],
    env: { DATABASE_URL: undefined },
  });
  const line = await up.waitForLine(/^PostgreSQL +postgres:\/\//, 90_000);
  await up.waitForLine('Flotilla is up');
  expect(up.output()).toContain('not yet built: registry');
  const url = /postgres:\/\/\S+/.exec(line)?.[0] ?? '';
  expect(url).toContain(`:${port}/`);
  expect(await selectOne(url)).toEqual([{ one: 1 }]);

  expect(await up.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
  expect(up.output()).toContain('Flotilla stopped.');
  expect(await isPortFree(port)).toBe(true);
});

test('npm start runs the same system and stops it cleanly on Ctrl-C', async ({ processes }) => {
  const port = await freePort();
  const start = processes.spawn({
    name: 'npm start',
    command: 'npm',
    args: ['start', '--silent', '--', '--data-dir', `${temp.dir}/pg`, '--port', String(port)],
    cwd: repoRoot,
    env: { DATABASE_URL: undefined },
    detached: true,
  });
  await start.waitForLine('Flotilla is up', 90_000);
  expect(await selectOne(`postgres://postgres@127.0.0.1:${port}/postgres`)).toEqual([{ one: 1 }]);

  // A terminal's Ctrl-C sends SIGINT to the whole foreground process group.
  start.signalNow('SIGINT', true);
  await start.exited;
  expect(start.output()).toContain('Flotilla stopped.');
  expect(await isPortFree(port)).toBe(true);
});

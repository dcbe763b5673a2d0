import { once } from 'node:events';
import net from 'node:net';
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

async function ports(): Promise<string[]> {
  const [pg, registry, config] = [await freePort(), await freePort(), await freePort()];
  return ['--port', String(pg), '--registry-port', String(registry), '--config-port', String(config)];
}

test('flotilla up runs PostgreSQL, the registry and the config server, and exits 0 on SIGTERM', async ({
  processes,
}) => {
  const args = await ports();
  const [pgPort, registryPort, configPort] = [args[1], args[3], args[5]].map(Number) as [
    number,
    number,
    number,
  ];
  const up = processes.spawn({
    name: 'flotilla up',
    command: process.execPath,
    args: [bin, 'up', '--data-dir', `${temp.dir}/pg`, ...args],
    cwd: temp.dir,
    env: { DATABASE_URL: undefined },
  });
  const line = await up.waitForLine(/^PostgreSQL +postgres:\/\//, 90_000);
  await up.waitForLine('Flotilla is up', 60_000);
  expect(up.output()).toContain('not yet built:  gateway');
  const url = /postgres:\/\/\S+/.exec(line)?.[0] ?? '';
  expect(url).toContain(`:${pgPort}/`);
  expect(await selectOne(url)).toEqual([{ one: 1 }]);

  const services = await fetch(`http://127.0.0.1:${registryPort}/v1/services`);
  expect(services.status).toBe(200);
  expect(await services.json()).toBeInstanceOf(Array);
  const config = await fetch(`http://127.0.0.1:${configPort}/health`);
  expect(config.status).toBe(200);

  expect(await up.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
  expect(up.output()).toContain('Flotilla stopped.');
  for (const port of [pgPort, registryPort, configPort]) expect(await isPortFree(port)).toBe(true);
});

test('flotilla up refuses a busy component port, naming the flag', async ({ processes }) => {
  const args = await ports();
  const blocker = net.createServer().listen(Number(args[3]), '127.0.0.1');
  await once(blocker, 'listening');
  try {
    const up = processes.spawn({
      name: 'flotilla up',
      command: process.execPath,
      args: [bin, 'up', '--data-dir', `${temp.dir}/pg`, ...args],
      cwd: temp.dir,
    });
    expect((await up.exited).code).toBe(2);
    expect(up.output()).toContain(`port ${args[3]} is already in use; choose another with --registry-port`);
  } finally {
    blocker.close();
  }
});

test('npm start runs the same system and stops it cleanly on Ctrl-C', async ({ processes }) => {
  const args = await ports();
  const port = Number(args[1]);
  const start = processes.spawn({
    name: 'npm start',
    command: 'npm',
    args: ['start', '--silent', '--', '--data-dir', `${temp.dir}/pg`, ...args],
    cwd: repoRoot,
    env: { DATABASE_URL: undefined },
    detached: true,
  });
  await start.waitForLine('Flotilla is up', 120_000);
  expect(await selectOne(`postgres://postgres@127.0.0.1:${port}/postgres`)).toEqual([{ one: 1 }]);

  // A terminal's Ctrl-C sends SIGINT to the whole foreground process group.
  start.signalNow('SIGINT', true);
  await start.exited;
  expect(start.output()).toContain('Flotilla stopped.');
  for (const p of [args[1], args[3], args[5]]) expect(await isPortFree(Number(p))).toBe(true);
});

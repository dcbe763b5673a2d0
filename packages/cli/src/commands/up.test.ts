import { once } from 'node:events';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  eventually,
  freePort,
  isPortFree,
  makeTempDir,
  type ProcessGroup,
  type ProcessHandle,
  type TempDir,
  test,
} from '@flotilla/testkit';
import pg from 'pg';
import { afterEach, beforeEach, expect } from 'vitest';

const bin = fileURLToPath(new URL('../../bin/flotilla.mjs', import.meta.url));

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

/** Pids of the live processes (not zombies) whose environment holds `entry` (`NAME=value`). */
async function processesWithEnv(entry: string): Promise<number[]> {
  const found: number[] = [];
  for (const name of await readdir('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const environ = await readFile(`/proc/${pid}/environ`, 'latin1');
      const stat = await readFile(`/proc/${pid}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state !== 'Z' && environ.split('\0').includes(entry)) found.push(pid);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

async function ports(): Promise<string[]> {
  const [pg, registry, config] = [await freePort(), await freePort(), await freePort()];
  return ['--port', String(pg), '--registry-port', String(registry), '--config-port', String(config)];
}

/** Starts `flotilla up` with `extra` arguments on free ports (`args`, PostgreSQL's data in the temp dir). */
async function spawnUp(
  processes: ProcessGroup,
  extra: string[] = [],
): Promise<{ up: ProcessHandle; args: string[]; pgPort: number; registryPort: number; configPort: number }> {
  const args = await ports();
  const up = processes.spawn({
    name: 'flotilla up',
    command: process.execPath,
    args: [bin, 'up', ...extra, '--data-dir', `${temp.dir}/pg`, ...args],
    cwd: temp.dir,
    env: { DATABASE_URL: undefined },
  });
  const [pgPort, registryPort, configPort] = [args[1], args[3], args[5]].map(Number) as [
    number,
    number,
    number,
  ];
  return { up, args, pgPort, registryPort, configPort };
}

test('flotilla up runs PostgreSQL, the registry and the config server, and exits 0 on SIGTERM', async ({
  processes,
}) => {
  const { up, pgPort, registryPort, configPort } = await spawnUp(processes);
  const line = await up.waitForLine(/^PostgreSQL +postgres:\/\//, 90_000);
  await up.waitForLine('Flotilla is up', 60_000);
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

// `npm start` (the streaming system) is covered end to end by examples/streaming/src/system.test.ts.

const twoServices = fileURLToPath(
  new URL('../../../../examples/two-services/flotilla.yaml', import.meta.url),
);

/** `flotilla up -f` of the two-services example on free ports; resolves once it is up. */
async function upTwoServices(processes: ProcessGroup): Promise<{ up: ProcessHandle; args: string[] }> {
  const { up, args } = await spawnUp(processes, ['-f', twoServices]);
  await up.waitForLine('Flotilla is up: 2 services', 120_000);
  return { up, args };
}

test('flotilla up -f runs a manifest: services in dependency order, a killed instance restarts, status lists it all', async ({
  processes,
}) => {
  const { up, args } = await upTwoServices(processes);
  const registryPort = Number(args[3]);
  const out = up.output();
  // storefront dependsOn pricing: it starts once both pricing instances are up.
  expect(out.indexOf('up              pricing#2')).toBeLessThan(out.indexOf('starting        storefront'));
  expect(out.indexOf('up              pricing#1')).toBeLessThan(out.indexOf('starting        storefront'));

  const storefront = /up {14}storefront {3}(http:\/\/\S+)/.exec(out)?.[1] as string;
  const offer = await fetch(`${storefront}/offers/tt0133093?country=JP`);
  expect(offer.status).toBe(200);
  expect(((await offer.json()) as { price: string }).price).toMatch(/JPY$/);

  const status = processes.spawn({
    name: 'status',
    command: process.execPath,
    args: [bin, 'status'],
    cwd: temp.dir,
  });
  expect((await status.exited).code).toBe(0);
  expect(status.output()).toMatch(/pricing#1 +\d+ +running/);
  expect(status.output()).toMatch(/pricing +2\/2 UP/);

  // kill -9 of an instance: it restarts with backoff on a new port and registers again.
  const pid = Number(/pricing#1 +(\d+)/.exec(status.output())?.[1]);
  process.kill(pid, 'SIGKILL');
  await up.waitForLine('[pricing#1] exited (SIGKILL); restarting in 1 s', 30_000);
  await eventually(
    async () => {
      const body = (await (
        await fetch(`http://127.0.0.1:${registryPort}/v1/services/pricing/instances`)
      ).json()) as {
        instances: { port: number; status: string }[];
      };
      expect(body.instances.filter((i) => i.status === 'UP').length).toBeGreaterThanOrEqual(3);
    },
    { timeoutMs: 60_000 },
  );

  expect(await up.stop({ signal: 'SIGTERM' })).toMatchObject({ code: 0, signal: null });
  expect(up.output()).toContain('Flotilla stopped.');
  const after = processes.spawn({
    name: 'status',
    command: process.execPath,
    args: [bin, 'status'],
    cwd: temp.dir,
  });
  expect((await after.exited).code).toBe(1);
  expect(after.output()).toContain('No system is running here');
});

test('flotilla up stopped with a second signal kills every process it started, leaving none behind', async ({
  processes,
}) => {
  const { up, args } = await upTwoServices(processes);
  const pgPort = Number(args[1]);
  const state = JSON.parse(await readFile(`${temp.dir}/.flotilla/up.json`, 'utf8')) as {
    components: { name: string; pid?: number }[];
  };
  const pids = state.components.map((c) => c.pid).filter((pid): pid is number => pid !== undefined);
  // The registry, the config server, two pricing instances and the storefront.
  expect(pids.length).toBe(5);
  // Ctrl-C twice: the second, while the first still stops the services gracefully, means now.
  // (Sent once the first was handled: two signals pending at once are one.)
  up.signalNow('SIGINT');
  await up.waitForLine(/"msg":"stopping"/, 10_000);
  up.signalNow('SIGINT');
  expect((await up.exited).code).toBe(130);
  await eventually(
    () => {
      const alive = pids.filter((pid) => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      });
      expect(alive, 'processes of the system still running').toEqual([]);
    },
    { timeoutMs: 10_000 },
  );
  await eventually(async () => expect(await isPortFree(pgPort), 'PostgreSQL port free').toBe(true), {
    timeoutMs: 10_000,
  });
});

test('a second signal while the services start kills what started, healthy or not', async ({ processes }) => {
  const { up, pgPort, registryPort, configPort } = await spawnUp(processes, ['-f', twoServices]);
  await up.waitForLine(/^starting +pricing/, 120_000);
  up.signalNow('SIGINT');
  await up.waitForLine(/"msg":"stopping while starting"/, 10_000);
  up.signalNow('SIGINT');
  expect((await up.exited).code).toBe(130);
  for (const port of [pgPort, registryPort, configPort])
    await eventually(async () => expect(await isPortFree(port), `port ${port} free`).toBe(true), {
      timeoutMs: 10_000,
    });
  // Every service instance, up or still starting, was given this run's registry URL.
  const registryUrl = `FLOTILLA_REGISTRY_URL=http://127.0.0.1:${registryPort}`;
  await eventually(
    async () => expect(await processesWithEnv(registryUrl), 'instances still running').toEqual([]),
    { timeoutMs: 10_000 },
  );
  expect(up.output(), 'no graceful stop ran to its end').not.toContain('Flotilla stopped.');
});

test('flotilla up refuses a manifest with an unknown dependency, naming the line', async ({ processes }) => {
  const file = `${temp.dir}/flotilla.yaml`;
  await writeFile(file, 'services:\n  a:\n    command: [node, a.js]\n    dependsOn: [b]\n');
  const up = processes.spawn({
    name: 'flotilla up',
    command: process.execPath,
    args: [bin, 'up', '-f', file],
    cwd: temp.dir,
  });
  expect((await up.exited).code).toBe(2);
  expect(up.output()).toMatch(/flotilla\.yaml:4:17: a depends on "b", which the manifest does not declare/);
});

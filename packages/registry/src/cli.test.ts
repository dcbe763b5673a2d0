import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, makeTempDir, test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { connectSse, type SseEvent } from './fixtures/sse-client.js';

// These tests run the built CLI (`npx tsc -b` first), as an operator would.
const bin = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));
const heartbeatClient = fileURLToPath(new URL('./fixtures/heartbeat-client.mjs', import.meta.url));

const data = (e: SseEvent) => JSON.parse(e.data);
const is = (event: string, id: string) => (e: SseEvent) =>
  e.event === event && data(e).instance?.instanceId === id;

function register(url: string, service: string, instanceId: string) {
  return fetch(`${url}/v1/services/${service}/instances`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ instanceId, host: '10.0.0.1', port: 8080 }),
  });
}

describe('flotilla registry', () => {
  test('serves on its port and exits 0 on SIGTERM', async ({ processes }) => {
    const port = await freePort();
    const registry = processes.spawn({
      name: 'registry',
      command: process.execPath,
      args: [bin, 'registry', '--port', String(port)],
    });
    await registry.waitForLine(/registry listening/, 15_000);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { status: string };
    expect(health.status).toBe('UP');
    expect(await registry.stop()).toEqual({ code: 0, signal: null });
  });

  test('refuses a store it does not know, with the usage', async ({ processes }) => {
    const run = processes.spawn({
      name: 'registry',
      command: process.execPath,
      args: [bin, 'registry', '--store', 'redis://x'],
    });
    expect((await run.exited).code).toBe(2);
    expect(run.output()).toContain('--store should be memory, postgres://… or etcd://');
  });

  test('evicts a process killed with -9 once its lease runs out', async ({ processes }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const registry = processes.spawn({
      name: 'registry',
      command: process.execPath,
      args: [bin, 'registry', '--port', String(port)],
    });
    await registry.waitForLine(/registry listening/, 15_000);
    const watcher = await connectSse(`${url}/v1/watch?service=victim`);
    try {
      const client = processes.spawn({
        name: 'client',
        command: process.execPath,
        args: [heartbeatClient, url, 'victim', 'victim-1', '200', '1000'],
      });
      await watcher.next(is('registered', 'victim-1'));
      await client.waitForLine(/renewed 200/, 10_000);
      client.kill9();
      const evicted = await watcher.next(is('evicted', 'victim-1'), 15_000);
      expect(data(evicted).instance.lease).toEqual({ renewalIntervalMs: 200, durationMs: 1_000 });
      expect((await fetch(`${url}/v1/services/victim/instances/victim-1`)).status).toBe(404);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain(
        'flotilla_registry_evictions_total{service="victim"} 1',
      );
    } finally {
      watcher.close();
    }
  });

  test('comes back with its instances from --snapshot after a restart', async ({ processes }) => {
    const dir = await makeTempDir('registry-cli');
    try {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const args = [bin, 'registry', '--port', String(port), '--snapshot', join(dir.dir, 'registry.json')];
      const first = processes.spawn({ name: 'registry-1', command: process.execPath, args });
      await first.waitForLine(/registry listening/, 15_000);
      expect((await register(url, 'kept', 'kept-1')).status).toBe(201);
      expect((await first.stop()).code).toBe(0);
      const second = processes.spawn({ name: 'registry-2', command: process.execPath, args });
      await second.waitForLine(/registry listening/, 15_000);
      expect((await fetch(`${url}/v1/services/kept/instances/kept-1`)).status).toBe(200);
    } finally {
      await dir.remove();
    }
  });

  test('two registry processes on one PostgreSQL database see each other', async ({
    processes,
    postgres,
  }) => {
    const [portA, portB] = [await freePort(), await freePort()];
    const a = `http://127.0.0.1:${portA}`;
    const b = `http://127.0.0.1:${portB}`;
    const spawn = (name: string, port: number) =>
      processes.spawn({
        name,
        command: process.execPath,
        args: [bin, 'registry', '--port', String(port), '--store', postgres.url],
      });
    const registryA = spawn('registry-a', portA);
    const registryB = spawn('registry-b', portB);
    await registryA.waitForLine(/registry listening/, 20_000);
    await registryB.waitForLine(/registry listening/, 20_000);
    const watchA = await connectSse(`${a}/v1/watch?service=shared`);
    const watchB = await connectSse(`${b}/v1/watch?service=shared`);
    try {
      expect((await register(a, 'shared', 'from-a')).status).toBe(201);
      await watchB.next(is('registered', 'from-a'));
      expect((await fetch(`${b}/v1/services/shared/instances/from-a`)).status).toBe(200);

      expect((await register(b, 'shared', 'from-b')).status).toBe(201);
      await watchA.next(is('registered', 'from-b'));
      // Renewed through one process, deregistered through the other.
      expect(
        (await fetch(`${a}/v1/services/shared/instances/from-b/heartbeat`, { method: 'PUT' })).status,
      ).toBe(200);
      expect((await fetch(`${b}/v1/services/shared/instances/from-a`, { method: 'DELETE' })).status).toBe(
        204,
      );
      await watchA.next(is('deregistered', 'from-a'));
      const listed = (await (await fetch(`${a}/v1/services/shared/instances`)).json()) as {
        instances: { instanceId: string }[];
      };
      expect(listed.instances.map((i: { instanceId: string }) => i.instanceId)).toEqual(['from-b']);
      // Same revisions on both sides.
      const lastA = watchA.events.at(-1)?.id ?? '';
      await watchB.next((e) => e.id === lastA);

      // A watcher of A that reconnects to B resumes from the shared change log: exactly the missed changes.
      watchA.close();
      expect((await register(a, 'shared', 'while-away')).status).toBe(201);
      expect((await fetch(`${a}/v1/services/shared/instances/from-b`, { method: 'DELETE' })).status).toBe(
        204,
      );
      const resumed = await connectSse(`${b}/v1/watch?service=shared`, { 'last-event-id': lastA });
      try {
        await resumed.next(is('deregistered', 'from-b'));
        expect(resumed.events.map((e) => [e.event, data(e).instance?.instanceId])).toEqual([
          ['registered', 'while-away'],
          ['deregistered', 'from-b'],
        ]);
      } finally {
        resumed.close();
      }
    } finally {
      watchA.close();
      watchB.close();
    }
  });

  test('runs on etcd', async ({ processes, etcd }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const store = `${etcd.url.replace(/^http/, 'etcd')}/${etcd.prefix}`;
    const registry = processes.spawn({
      name: 'registry',
      command: process.execPath,
      args: [bin, 'registry', '--port', String(port), '--store', store],
    });
    await registry.waitForLine(/registry listening/, 15_000);
    expect((await register(url, 'on-etcd', 'e-1')).status).toBe(201);
    const status = (await (await fetch(`${url}/v1/registry`)).json()) as {
      store: string;
      instances: number;
      capabilities: { leaseExpiry: string };
    };
    expect(status).toMatchObject({ store: 'etcd', instances: 1, capabilities: { leaseExpiry: 'store' } });
    expect(await registry.stop()).toEqual({ code: 0, signal: null });
  });
});

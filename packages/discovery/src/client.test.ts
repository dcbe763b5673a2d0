import { fileURLToPath } from 'node:url';
import { createLogger } from '@flotilla/core';
import { freePort, type ProcessGroup, test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { DiscoveryClient, type DiscoveryClientOptions } from './client.js';
import type { Instance, ServiceChange } from './model.js';

// These tests run the built `flotilla` CLI and a child process on the built client
// (`npx tsc -b packages/discovery packages/registry packages/cli` first).
const bin = fileURLToPath(new URL('../../cli/bin/flotilla.mjs', import.meta.url));
const child = fileURLToPath(new URL('./fixtures/registering-child.mjs', import.meta.url));
const WAIT_MS = 20_000;

async function startRegistry(processes: ProcessGroup, port: number) {
  const registry = processes.spawn({
    name: `registry:${port}`,
    command: process.execPath,
    args: [bin, 'registry', '--port', String(port), '--host', '127.0.0.1'],
  });
  await registry.waitForLine(/registry listening/, WAIT_MS);
  return registry;
}

function client(registryUrl: string, options: DiscoveryClientOptions = {}) {
  return new DiscoveryClient({
    registryUrl,
    logger: createLogger({ service: 'test', level: 'silent' }),
    reconnect: { initialDelayMs: 100, maxDelayMs: 500 },
    ...options,
  });
}

/** Resolves once `check` holds, re-checking on every change of `c`. */
function until(c: DiscoveryClient, check: (change?: ServiceChange) => boolean, what: string): Promise<void> {
  if (check()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${WAIT_MS} ms waiting for ${what}`));
    }, WAIT_MS);
    const off = c.on('change', (change) => {
      if (!check(change)) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

function event(c: DiscoveryClient, name: 'connected' | 'disconnected'): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${name} event within ${WAIT_MS} ms`)), WAIT_MS);
    const off = c.on(name, () => {
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}

const ids = (c: DiscoveryClient, service: string) => c.instances(service).map((i) => i.instanceId);

describe('DiscoveryClient against a real registry', () => {
  test('a watcher sees a registration and the deregistration on close', async ({ processes }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await startRegistry(processes, port);
    const a = client(url);
    const b = client(url, { services: ['orders'] });
    try {
      await b.start();
      expect(b.connected).toBe(true);
      const registered = await a.register({
        service: 'orders',
        instanceId: 'orders-a',
        host: '127.0.0.1',
        port: 8081,
        zone: 'z1',
      });
      expect(registered).toMatchObject({ instanceId: 'orders-a', status: 'UP' });
      await until(b, () => ids(b, 'orders').includes('orders-a'), 'orders-a in the watcher');
      expect(b.instances('orders')[0]).toMatchObject({ host: '127.0.0.1', port: 8081, zone: 'z1' });
      const removed = until(b, (c) => c?.reason === 'deregistered', 'deregistered');
      await a.close();
      await removed;
      expect(ids(b, 'orders')).toEqual([]);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('closing a connected client reports no lost watch', async ({ processes }) => {
    const port = await freePort();
    await startRegistry(processes, port);
    const c = client(`http://127.0.0.1:${port}`);
    let lost = 0;
    c.on('disconnected', () => lost++);
    await c.start();
    expect(c.connected).toBe(true);
    await c.close();
    expect(c.connected).toBe(false);
    expect(lost, "'disconnected' events (each one logs a warning)").toBe(0);
  });

  test('reports STARTING, then UP, then OUT_OF_SERVICE, and keeps the status when it registers again', async ({
    processes,
  }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await startRegistry(processes, port);
    const a = client(url);
    const b = client(url, { services: ['search'] });
    try {
      await b.start();
      await a.register({
        service: 'search',
        instanceId: 'search-a',
        host: '127.0.0.1',
        port: 8083,
        status: 'STARTING',
        lease: { renewalIntervalMs: 200, durationMs: 2_000 },
      });
      const statusOf = () => b.instances('search', { status: 'any' })[0]?.status;
      await until(b, () => statusOf() === 'STARTING', 'search-a STARTING');
      expect(ids(b, 'search')).toEqual([]);
      expect((await a.setStatus('UP')).status).toBe('UP');
      await until(b, () => ids(b, 'search').includes('search-a'), 'search-a UP');
      await a.setStatus('OUT_OF_SERVICE');
      await until(b, () => statusOf() === 'OUT_OF_SERVICE', 'search-a OUT_OF_SERVICE');

      // A new registry knows nothing: the instance registers again with its last status.
      first.kill9();
      await first.exited;
      const reRegistered = new Promise<Instance>((resolve) => a.on('registered', resolve));
      await startRegistry(processes, port);
      expect((await reRegistered).status).toBe('OUT_OF_SERVICE');
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('keeps serving the last known set while the registry is down, then resyncs', async ({ processes }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = await startRegistry(processes, port);
    const a = client(url);
    // B reconnects only after 2 s, when A has usually registered again already: the new
    // registry is then at a revision B has seen, and only a snapshot can put B right.
    const b = client(url, { reconnect: { initialDelayMs: 2_000, maxDelayMs: 2_000, jitter: 'none' } });
    try {
      await b.start();
      await a.register({
        service: 'billing',
        instanceId: 'billing-a',
        host: '127.0.0.1',
        port: 8082,
        lease: { renewalIntervalMs: 200, durationMs: 2_000 },
      });
      await until(b, () => ids(b, 'billing').includes('billing-a'), 'billing-a before the restart');

      const lost = event(b, 'disconnected');
      first.kill9();
      await first.exited;
      await lost;
      expect(b.connected).toBe(false);
      expect(ids(b, 'billing')).toEqual(['billing-a']);

      // A fresh memory registry knows nothing: B resyncs from its snapshot, and A, whose
      // renewals now answer INSTANCE_NOT_REGISTERED, registers again.
      const reconnected = event(b, 'connected');
      const reRegistered = new Promise<Instance>((resolve) => a.on('registered', resolve));
      await startRegistry(processes, port);
      await reconnected;
      const again = await reRegistered;
      await until(
        b,
        () => b.instances('billing')[0]?.registeredAt === again.registeredAt,
        'billing-a as registered with the new registry',
      );
      expect(ids(b, 'billing')).toEqual(['billing-a']);
      expect(b.connected).toBe(true);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test('a process killed with -9 is evicted after its lease', async ({ processes }) => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    await startRegistry(processes, port);
    const b = client(url, { services: ['victim'] });
    try {
      await b.start();
      const proc = processes.spawn({
        name: 'victim',
        command: process.execPath,
        args: [child, url, 'victim', 'victim-1'],
      });
      await proc.waitForLine(/registered victim-1/, WAIT_MS);
      await until(b, () => ids(b, 'victim').includes('victim-1'), 'victim-1 registered');
      const evicted = until(
        b,
        (c) => c?.reason === 'evicted' && c.removed[0]?.instanceId === 'victim-1',
        'eviction',
      );
      proc.kill9();
      await evicted;
      expect(ids(b, 'victim')).toEqual([]);
    } finally {
      await b.close();
    }
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '@flotilla/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogger } from './fixtures/helpers.js';
import { Registry } from './registry.js';
import { MemoryStore } from './stores/memory-store.js';

let server: Server;
let answer = 200;
let url = '';

beforeAll(async () => {
  server = createServer((request, response) => {
    if (request.url === '/slow') return; // never answers
    response.writeHead(answer).end(answer === 200 ? 'UP' : 'DOWN');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

async function setup(path = '/health') {
  const clock = new ManualClock(0);
  const registry = new Registry({
    store: new MemoryStore({ clock }),
    clock,
    logger: captureLogger().logger,
    eviction: { intervalMs: 0 },
  });
  await registry.start();
  await registry.register({
    service: 'orders',
    instanceId: 'o-1',
    host: '127.0.0.1',
    port: 1,
    healthCheckUrl: `${url}${path}`,
    healthCheck: { intervalMs: 1_000, timeoutMs: 200, unhealthyThreshold: 2, healthyThreshold: 3 },
  });
  let now = 0;
  /** One probe round, a probe interval later. */
  const probe = async () => {
    now += 1_000;
    await registry.maintenance.health.tick(now);
    return registry.get('orders', 'o-1');
  };
  return { registry, probe };
}

describe('active health checks', () => {
  it('marks an instance DOWN after N failures and UP again after M successes', async () => {
    const { registry, probe } = await setup();
    try {
      answer = 200;
      expect((await probe())?.health).toBeUndefined();
      answer = 503;
      expect((await probe())?.status).toBe('UP'); // one failure is not enough
      expect(await probe()).toMatchObject({ health: 'DOWN', status: 'DOWN', reportedStatus: 'UP' });
      answer = 200;
      expect((await probe())?.status).toBe('DOWN');
      expect((await probe())?.status).toBe('DOWN');
      expect(await probe()).toMatchObject({ health: 'UP', status: 'UP' });
    } finally {
      answer = 200;
      await registry.stop();
    }
  });

  it('counts a timeout or an unreachable URL as a failure', async () => {
    const slow = await setup('/slow');
    try {
      await slow.probe();
      expect((await slow.probe())?.status).toBe('DOWN');
    } finally {
      await slow.registry.stop();
    }
    const clock = new ManualClock(0);
    const registry = new Registry({
      store: new MemoryStore({ clock }),
      clock,
      logger: captureLogger().logger,
    });
    const gone = {
      healthCheckUrl: 'http://127.0.0.1:1/health',
      healthCheck: { intervalMs: 1, timeoutMs: 100, unhealthyThreshold: 1, healthyThreshold: 1 },
    };
    expect(await registry.maintenance.health.probe(gone)).toBe(false);
  });
});

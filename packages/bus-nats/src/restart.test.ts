import { spawnSync } from 'node:child_process';
import { createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { freePort, makeTempDir, test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import { createNatsAdapter } from './adapter.js';

const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Created = defineMessage('invoice.created', Type.Object({ n: Type.Integer() }), { topic: 'invoices' });

// Needs the nats-server binary (not only a running server): skipped without it, unless required.
const hasBinary = spawnSync('nats-server', ['--version']).status === 0;
if (!hasBinary) {
  const reason = 'nats-server is not on PATH';
  if (process.env.FLOTILLA_REQUIRE_SERVICES === '1') throw new Error(`broker restart test: ${reason}`);
  console.warn(`[bus-nats] skipping the broker restart test: ${reason}`);
}

describe.skipIf(!hasBinary)('nats broker restart', () => {
  // Its own nats-server (the system's binary) on a free port, so the test can kill it.
  test('loses no acknowledged publish when the server is killed with -9 and restarted', async ({
    processes,
    onTestFinished,
  }) => {
    const port = await freePort();
    const store = await makeTempDir('nats-restart');
    onTestFinished(() => store.remove());
    const start = async () => {
      const server = processes.spawn({
        name: 'nats-server',
        command: 'nats-server',
        args: ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store.dir],
      });
      await server.waitForLine(/Server is ready/, 30_000);
      return server;
    };
    let server = await start();
    const url = `nats://127.0.0.1:${port}`;
    const producer = await createBus({
      adapter: createNatsAdapter({ url, logger }),
      service: 'billing',
      logger,
    });
    const consumer = await createBus({
      adapter: createNatsAdapter({ url, ackWaitMs: 2000, logger }),
      service: 'mailer',
      logger,
    });
    onTestFinished(async () => {
      await consumer.close();
      await producer.close();
    });
    const seen = new Set<number>();
    await consumer.subscribe(Created, { concurrency: 4 }, async ({ payload }) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      seen.add(payload.n);
    });
    const publish = (from: number, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => producer.publish(Created, { n: from + i })));
    await publish(0, 20);
    await waitFor(() => seen.size >= 5, 'some messages handled before the kill');
    await server.kill9();
    server = await start();
    await publish(20, 20);
    await waitFor(() => seen.size === 40, 'every acknowledged publish delivered', 60_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

import { createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import { createPostgresAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Job = defineMessage('job.created', Type.Object({ n: Type.Integer() }), { topic: 'jobs' });

describe('postgres consumer', () => {
  test('renews the lease of a handler that runs past it, so no other instance gets the message', async ({
    postgres,
  }) => {
    const options = { url: postgres.url, leaseMs: 200, pollIntervalMs: 50, logger };
    const buses = await Promise.all(
      [0, 1].map(() => createBus({ adapter: createPostgresAdapter(options), service: 'worker', logger })),
    );
    try {
      const deliveries: number[] = [];
      let finished = false;
      for (const bus of buses) {
        await bus.subscribe(Job, { concurrency: 1 }, async ({ envelope }) => {
          deliveries.push(envelope.attempt);
          await new Promise((resolve) => setTimeout(resolve, 1500)); // more than seven leases
          finished = true;
        });
      }
      await buses[0]?.publish(Job, { n: 1 });
      await waitFor(() => finished, 'the long handler to finish');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(deliveries).toEqual([1]);
      const { rows } = await postgres.pool.query('SELECT count(*)::int AS n FROM flotilla_bus_queue');
      expect(rows[0].n).toBe(0);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('keeps a group durable: messages wait in the queue while no instance runs', async ({ postgres }) => {
    const options = { url: postgres.url, pollIntervalMs: 50, logger };
    const first = await createBus({ adapter: createPostgresAdapter(options), service: 'worker', logger });
    await first.declare(Job);
    await first.publish(Job, { n: 1 });
    await first.close();
    const second = await createBus({ adapter: createPostgresAdapter(options), service: 'worker', logger });
    try {
      const seen: number[] = [];
      await second.subscribe(Job, {}, ({ payload }) => void seen.push(payload.n));
      await waitFor(() => seen.length === 1, 'the message kept while nobody consumed');
      expect(seen).toEqual([1]);
    } finally {
      await second.close();
    }
  });
});

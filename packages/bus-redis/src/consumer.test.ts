import { createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { createRedisAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Job = defineMessage('job.created', Type.Object({ n: Type.Integer() }), { topic: 'jobs' });

async function clientIds(url: string, name: string): Promise<string[]> {
  const admin = new Redis(url);
  try {
    const list = String(await admin.call('CLIENT', 'LIST'));
    return list
      .split('\n')
      .filter((line) => line.includes(` name=${name} `))
      .map((line) => /id=(\d+)/.exec(line)?.[1] ?? '');
  } finally {
    admin.disconnect();
  }
}

describe('redis consumer', () => {
  test('renews what a long handler holds, so XAUTOCLAIM gives it to no other instance', async ({ redis }) => {
    const options = { url: redis.url, keyPrefix: redis.prefix, visibilityTimeoutMs: 200, pollIntervalMs: 50 };
    const buses = await Promise.all(
      [0, 1].map(() =>
        createBus({ adapter: createRedisAdapter({ ...options, logger }), service: 'worker', logger }),
      ),
    );
    try {
      const deliveries: number[] = [];
      let finished = false;
      for (const bus of buses) {
        await bus.subscribe(Job, { concurrency: 1 }, async ({ envelope }) => {
          deliveries.push(envelope.attempt);
          await new Promise((resolve) => setTimeout(resolve, 1500)); // more than seven timeouts
          finished = true;
        });
      }
      await buses[0]?.publish(Job, { n: 1 });
      await waitFor(() => finished, 'the long handler to finish');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(deliveries).toEqual([1]);
      const admin = new Redis(redis.url);
      const pending = (await admin.call('XPENDING', `${redis.prefix}topic:jobs`, 'worker')) as [number];
      admin.disconnect();
      expect(pending[0]).toBe(0);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('reconnects on new connections after its connections are killed and goes on consuming', async ({
    redis,
  }) => {
    const adapter = createRedisAdapter({
      url: redis.url,
      keyPrefix: redis.prefix,
      pollIntervalMs: 50,
      logger,
    });
    const bus = await createBus({ adapter, service: 'worker', logger });
    try {
      const seen: number[] = [];
      await bus.subscribe(Job, {}, ({ payload }) => void seen.push(payload.n));
      await bus.publish(Job, { n: 1 });
      await waitFor(() => seen.length === 1, 'the first message');
      const before = await clientIds(redis.url, adapter.connectionName);
      expect(before.length).toBeGreaterThanOrEqual(2); // commands + the consumer's blocking reader
      await adapter.testHooks.dropConnections?.();
      await bus.publish(Job, { n: 2 });
      await waitFor(() => seen.length === 2, 'the message published after the kill');
      await waitFor(
        async () => (await clientIds(redis.url, adapter.connectionName)).length === before.length,
        'every connection back',
      );
      const after = await clientIds(redis.url, adapter.connectionName);
      expect(after.filter((id) => before.includes(id))).toEqual([]);
      expect(seen).toEqual([1, 2]);
    } finally {
      await bus.close();
    }
  });

  test('leaves no consumer name behind in the group when it closes', async ({ redis }) => {
    const adapter = createRedisAdapter({
      url: redis.url,
      keyPrefix: redis.prefix,
      pollIntervalMs: 50,
      logger,
    });
    const bus = await createBus({ adapter, service: 'worker', logger });
    const seen: number[] = [];
    await bus.subscribe(Job, {}, ({ payload }) => void seen.push(payload.n));
    await bus.publish(Job, { n: 1 });
    await waitFor(() => seen.length === 1, 'the message');
    const admin = new Redis(redis.url);
    try {
      const consumers = () => admin.call('XINFO', 'CONSUMERS', `${redis.prefix}topic:jobs`, 'worker');
      expect(await consumers()).toHaveLength(1);
      await bus.close();
      expect(await consumers()).toEqual([]);
    } finally {
      admin.disconnect();
    }
  });

  test('trims a topic stream to about maxLen entries', async ({ redis }) => {
    const adapter = createRedisAdapter({
      url: redis.url,
      keyPrefix: redis.prefix,
      trim: { maxLen: 100 },
      logger,
    });
    const bus = await createBus({ adapter, service: 'worker', logger });
    try {
      await bus.declare(Job);
      for (let n = 0; n < 1000; n += 100) {
        await Promise.all(Array.from({ length: 100 }, (_, i) => bus.publish(Job, { n: n + i })));
      }
      const admin = new Redis(redis.url);
      const length = await admin.xlen(`${redis.prefix}topic:jobs`);
      admin.disconnect();
      expect(length).toBeLessThan(1000);
      expect(length).toBeGreaterThanOrEqual(100);
    } finally {
      await bus.close();
    }
  });
});

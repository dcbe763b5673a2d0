import { fileURLToPath } from 'node:url';
import { type Bus, createBus, defineMessage } from '@flotilla/bus';
import { assertBuilt, Gate, waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type RedisFixture, test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { createRedisAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));
// The fixture defines the same message.
const Step = defineMessage('step.done', Type.Object({ key: Type.String(), seq: Type.Integer() }), {
  topic: 'steps',
});
const fast = { initialDelayMs: 5, maxDelayMs: 20 };

/** A bus of service `steps-view` on a new adapter with a short lease, for one simulated instance. */
function instance(redis: RedisFixture, buses: Bus[]): Promise<Bus> {
  const adapter = createRedisAdapter({
    url: redis.url,
    keyPrefix: redis.prefix,
    pollIntervalMs: 50,
    leaseTtlMs: 1000,
    standbyRetryMs: 50,
    logger,
  });
  return createBus({ adapter, service: 'steps-view', logger }).then((bus) => {
    buses.push(bus);
    return bus;
  });
}

/** Publishes `perKey` steps for each key, interleaving the keys, one publish after another. */
async function publishSteps(bus: Bus, keys: readonly string[], from: number, to: number): Promise<void> {
  for (let seq = from; seq < to; seq++) {
    for (const key of keys) await bus.publish(Step, { key, seq }, { key });
  }
}

const range = (from: number, to: number): number[] => Array.from({ length: to - from }, (_, i) => from + i);

describe('redis ordered consumer', () => {
  test('handles each key in publish order while different keys run concurrently', async ({ redis }) => {
    const buses: Bus[] = [];
    try {
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const perKey = 25;
      const done = new Map<string, number[]>(keys.map((k) => [k, []]));
      const running = new Set<string>();
      const violations: string[] = [];
      let mostAtOnce = 0;
      // A backlog first, so each read takes many entries, several of them of one key.
      const producer = await instance(redis, buses);
      await producer.declare(Step, { group: 'steps-view' });
      await publishSteps(producer, keys, 0, perKey);
      for (let i = 0; i < 2; i++) {
        const bus = await instance(redis, buses);
        await bus.subscribe(Step, { ordered: true, concurrency: 32 }, async ({ payload }) => {
          if (running.has(payload.key)) violations.push(`${payload.key}#${payload.seq} overlapped`);
          running.add(payload.key);
          mostAtOnce = Math.max(mostAtOnce, running.size);
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
          running.delete(payload.key);
          done.get(payload.key)?.push(payload.seq);
        });
      }
      await waitFor(() => [...done.values()].every((l) => l.length >= perKey), 'every step handled', 30_000);
      expect(violations).toEqual([]);
      for (const key of keys) expect(done.get(key), key).toEqual(range(0, perKey));
      expect(mostAtOnce).toBeGreaterThan(1);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('retries a failing message before the later ones of its key while other keys go on', async ({
    redis,
  }) => {
    const buses: Bus[] = [];
    try {
      const bus = await instance(redis, buses);
      const bDone = new Gate();
      const handled: string[] = [];
      await bus.subscribe(
        Step,
        { ordered: true, concurrency: 8, maxAttempts: 5, backoff: fast },
        async ({ payload, envelope }) => {
          const { key, seq } = payload;
          if (key === 'a' && seq === 0) {
            handled.push(`a0@${envelope.attempt}`);
            if (envelope.attempt <= 2) throw new Error('transient');
            // B is not held up by A's retries: all of B is done before A's first message succeeds.
            await bDone.opened;
            return;
          }
          handled.push(`${key}${seq}`);
          if (key === 'b' && seq === 2) bDone.open();
        },
      );
      await publishSteps(bus, ['a', 'b'], 0, 3);
      await waitFor(() => handled.includes('a2'), "a's last message", 20_000);
      const ofA = handled.filter((h) => h.startsWith('a'));
      expect(ofA).toEqual(['a0@1', 'a0@2', 'a0@3', 'a1', 'a2']);
      expect(handled.filter((h) => h.startsWith('b'))).toEqual(['b0', 'b1', 'b2']);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('dead-letters a message after maxAttempts and goes on with its key', async ({ redis }) => {
    const buses: Bus[] = [];
    try {
      const bus = await instance(redis, buses);
      const handled: string[] = [];
      await bus.subscribe(
        Step,
        { ordered: true, concurrency: 4, maxAttempts: 3, backoff: fast },
        async ({ payload, envelope }) => {
          handled.push(`${payload.key}${payload.seq}@${envelope.attempt}`);
          if (payload.seq === 0) throw new Error('permanent');
        },
      );
      await publishSteps(bus, ['a'], 0, 2);
      await waitFor(() => handled.includes('a1@1'), 'the message after the dead-lettered one', 20_000);
      expect(handled).toEqual(['a0@1', 'a0@2', 'a0@3', 'a1@1']);
      const dead = await bus.deadLetters.list({ topic: 'steps' });
      expect(dead.map((d) => [d.payload, d.attempts])).toEqual([[{ key: 'a', seq: 0 }, 3]]);
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('refuses the settles of a consumer whose lease was taken, which then redelivers in order once it holds it again', async ({
    redis,
  }) => {
    const buses: Bus[] = [];
    const admin = new Redis(redis.url);
    try {
      const bus = await instance(redis, buses);
      const started = new Gate();
      const release = new Gate();
      const handled: string[] = [];
      await bus.subscribe(Step, { ordered: true, concurrency: 4 }, async ({ payload, envelope }) => {
        handled.push(`${payload.key}${payload.seq}@${envelope.attempt}`);
        if (envelope.attempt === 1 && payload.seq === 0) {
          started.open();
          await release.opened;
        }
      });
      await publishSteps(bus, ['a'], 0, 2);
      await started.opened;
      // Another holder for a moment: the running handler's ack must be refused, and a1 must wait.
      await admin.set(`${redis.prefix}lease:steps:steps-view`, 'intruder', 'PX', 500);
      release.open();
      await waitFor(
        () => handled.some((h) => h.startsWith('a1')),
        'the key to go on after the lease came back',
      );
      // a1 was read by the ended term without running: that delivery counts, as after a crash.
      expect(handled).toEqual(['a0@1', 'a0@2', 'a1@2']);
    } finally {
      admin.disconnect();
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('keeps a second instance on standby until the active one closes, then it takes over in order', async ({
    redis,
  }) => {
    const buses: Bus[] = [];
    try {
      const seen: { who: number; key: string; seq: number }[] = [];
      const subscriptions = [];
      for (const who of [0, 1]) {
        const bus = await instance(redis, buses);
        subscriptions.push(
          await bus.subscribe(Step, { ordered: true, concurrency: 4 }, ({ payload }) => {
            seen.push({ who, ...payload });
          }),
        );
      }
      const producer = await instance(redis, buses);
      await publishSteps(producer, ['a', 'b'], 0, 10);
      await waitFor(() => seen.length === 20, 'the first half');
      const active = seen[0]?.who ?? 0;
      expect(seen.every((s) => s.who === active)).toBe(true);
      await subscriptions[active]?.close();
      await publishSteps(producer, ['a', 'b'], 10, 20);
      await waitFor(() => seen.length === 40, 'the second half');
      expect(seen.slice(20).every((s) => s.who === 1 - active)).toBe(true);
      for (const key of ['a', 'b']) {
        expect(seen.filter((s) => s.key === key).map((s) => s.seq)).toEqual(range(0, 20));
      }
    } finally {
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });

  test('after the active process is killed with -9 mid-stream, a standby takes over: nothing lost, each key in order', async ({
    redis,
    processes,
  }) => {
    assertBuilt([path('../../bus/'), path('../')], 'npx tsc -b packages/bus-redis');
    const buses: Bus[] = [];
    const admin = new Redis(redis.url);
    try {
      const producer = await instance(redis, buses);
      await producer.declare(Step, { group: 'steps-view' });
      const keys = Array.from({ length: 10 }, (_, i) => `k${i}`);
      const perKey = 40;
      // A backlog first, so the child holds entries of every key when it dies.
      await publishSteps(producer, keys, 0, perKey);
      const child = processes.spawn({
        name: 'ordered-consumer',
        command: process.execPath,
        args: [path('./fixtures/ordered-consumer.mjs')],
        env: { ORDERED_REDIS_URL: redis.url, ORDERED_PREFIX: redis.prefix, FLOTILLA_LOG_LEVEL: 'error' },
      });
      await child.waitForLine('consumer ready');
      const records = async () =>
        (await admin.lrange(`${redis.prefix}handled`, 0, -1)).map((r) => r.split(' '));
      await waitFor(async () => (await records()).length >= 60, 'the child to handle some steps');
      // The standby, in this process, records the same way as the child.
      const standby = await instance(redis, buses);
      await standby.subscribe(Step, { ordered: true, concurrency: 8 }, async ({ payload, envelope }) => {
        await admin.rpush(`${redis.prefix}handled`, `${payload.key} ${payload.seq} ${envelope.attempt}`);
      });
      await child.kill9();
      // What the child held when it died: read before the standby's lease (1 s) lets it take over.
      const [heldAtKill] = (await admin.xpending(`${redis.prefix}topic:steps`, 'steps-view')) as [number];
      const handledBeforeKill = (await records()).length;
      expect(handledBeforeKill).toBeLessThan(keys.length * perKey);
      const handledSeqs = async () => new Set((await records()).map(([key, seq]) => `${key} ${seq}`));
      await waitFor(
        async () => (await handledSeqs()).size === keys.length * perKey,
        'every step handled',
        60_000,
      );
      const all = await records();
      for (const key of keys) {
        const seqs = all.filter(([k]) => k === key).map(([, seq]) => Number(seq));
        // A step handled again after the kill (recorded, not yet acknowledged) may repeat, but no
        // step runs before an earlier step of its key has been handled.
        const ordered = seqs.every((seq, i) => i === 0 || seq >= (seqs[i - 1] ?? 0));
        expect(ordered, `${key}: ${seqs.join(',')}`).toBe(true);
        expect(new Set(seqs)).toEqual(new Set(range(0, perKey)));
      }
      // The entries the child held when it died came back as redeliveries. (It may hold none: a
      // kill between two reads, every entry acknowledged.)
      expect(all.filter(([, , attempt]) => attempt !== '1').length).toBeGreaterThanOrEqual(heldAtKill);
      expect(await producer.deadLetters.list({ topic: 'steps' })).toEqual([]);
    } finally {
      admin.disconnect();
      await Promise.all(buses.map((bus) => bus.close()));
    }
  });
});

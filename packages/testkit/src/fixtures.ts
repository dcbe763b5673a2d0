/**
 * The vitest `test` with the testkit fixtures. A test names what it needs and gets a real
 * server namespace of its own, or is skipped (failed, when services are required):
 *
 *   test('stores an order', async ({ postgres }) => { … postgres.pool … });
 */
import { afterEach, test as base, inject } from 'vitest';
import { ProcessGroup, stopAll } from './process.js';
import { POSTGRES_KEY, setProvidedReader } from './provided.js';
import { type EtcdFixture, useEtcd } from './servers/etcd.js';
import { type NatsFixture, useNats } from './servers/nats.js';
import { type PostgresFixture, usePostgres } from './servers/postgres.js';
import { type RabbitmqFixture, useRabbitmq } from './servers/rabbitmq.js';
import { type RedisFixture, useRedis } from './servers/redis.js';

/** Fixtures a testkit `test` can ask for. */
export interface TestkitFixtures {
  /** A fresh database on PostgreSQL (local, `DATABASE_URL` or embedded), dropped after the test. */
  postgres: PostgresFixture;
  /** A fresh RabbitMQ vhost (or a name prefix on the shared one), deleted after the test. */
  rabbitmq: RabbitmqFixture;
  /** A NATS JetStream name prefix; its streams are deleted after the test. */
  nats: NatsFixture;
  /** A Redis key prefix; its keys are deleted after the test. */
  redis: RedisFixture;
  /** An etcd key prefix; its keys are deleted after the test. */
  etcd: EtcdFixture;
  /** Spawns processes that are stopped after the test; their output is printed if it fails. */
  processes: ProcessGroup;
}

setProvidedReader(() => inject(POSTGRES_KEY));

type SkipFn = (note?: string) => never;

/** A fixture that acquires a server resource for one test and releases it afterwards. */
function resourceFixture<R extends { release(): Promise<void> }>(
  acquire: (options: { skip: SkipFn }) => Promise<R>,
) {
  // vitest reads a fixture's first parameter to find its dependencies, so it must stay a
  // destructuring pattern; `skip` is the test context's.
  return async ({ skip }: { skip: SkipFn }, use: (value: R) => Promise<void>): Promise<void> => {
    const resource = await acquire({ skip });
    try {
      await use(resource);
    } finally {
      await resource.release();
    }
  };
}

export const test = base.extend<TestkitFixtures>({
  postgres: resourceFixture(usePostgres),
  rabbitmq: resourceFixture(useRabbitmq),
  nats: resourceFixture(useNats),
  redis: resourceFixture(useRedis),
  etcd: resourceFixture(useEtcd),
  processes: async ({ onTestFailed }, use) => {
    const group = new ProcessGroup();
    onTestFailed(() => {
      if (group.handles.length > 0)
        console.error(`[testkit] output of the test's processes:\n${group.report()}`);
    });
    try {
      await use(group);
    } finally {
      await group.stopAll();
    }
  },
});

/** Alias of `test`, for files that read better with `it`. */
export const it = test;

/** Stops every process spawned through `spawnProcess` after each test of the calling file. */
export function trackProcesses(): void {
  afterEach(async () => {
    await stopAll();
  });
}

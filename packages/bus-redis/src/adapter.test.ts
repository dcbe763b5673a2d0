import { busConformance } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type RedisResource, requireServer, useRedis } from '@flotilla/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { createRedisAdapter } from './adapter.js';

const server = await requireServer('redis');
const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe.skipIf(!server.ok)('redis bus adapter', () => {
  let redis: RedisResource;
  beforeAll(async () => {
    redis = await useRedis();
  });
  afterAll(async () => {
    await redis?.release();
  });

  busConformance({
    name: 'redis',
    // A short visibility timeout so a crashed consumer's entry is claimed within the test.
    createAdapter: () =>
      createRedisAdapter({
        url: redis.url,
        keyPrefix: redis.prefix,
        visibilityTimeoutMs: 1500,
        pollIntervalMs: 200,
        logger,
      }),
  });
});

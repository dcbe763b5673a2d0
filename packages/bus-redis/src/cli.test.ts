import { checkDlqCommand } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe } from 'vitest';
import { createRedisAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe('flotilla bus dlq on Redis Streams', () => {
  test('lists, replays and purges dead letters of the bus under --prefix', async ({ redis }) => {
    await checkDlqCommand({
      url: redis.url,
      prefix: redis.prefix,
      createAdapter: () =>
        createRedisAdapter({ url: redis.url, keyPrefix: redis.prefix, pollIntervalMs: 200, logger }),
    });
  });
});

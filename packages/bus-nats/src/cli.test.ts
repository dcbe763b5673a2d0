import { checkDlqCommand } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe } from 'vitest';
import { createNatsAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe('flotilla bus dlq on NATS JetStream', () => {
  test('lists, replays and purges dead letters of the bus under --prefix', async ({ nats }) => {
    await checkDlqCommand({
      url: nats.url,
      prefix: nats.prefix,
      createAdapter: () => createNatsAdapter({ url: nats.url, prefix: nats.prefix, logger }),
    });
  });
});

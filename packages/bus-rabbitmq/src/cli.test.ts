import { checkDlqCommand } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe } from 'vitest';
import { createRabbitmqAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe('flotilla bus dlq on RabbitMQ', () => {
  // The fixture's URL selects a vhost of the test's own.
  test('lists, replays and purges dead letters', async ({ rabbitmq }) => {
    await checkDlqCommand({
      url: rabbitmq.url,
      createAdapter: () => createRabbitmqAdapter({ url: rabbitmq.url, logger }),
    });
  });
});

import { busConformance } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type RabbitmqResource, requireServer, useRabbitmq } from '@flotilla/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { createRabbitmqAdapter } from './adapter.js';

const server = await requireServer('rabbitmq');
const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe.skipIf(!server.ok)('rabbitmq', () => {
  let rabbitmq: RabbitmqResource;
  beforeAll(async () => {
    rabbitmq = await useRabbitmq();
  });
  afterAll(async () => {
    await rabbitmq?.release();
  });

  busConformance({
    name: 'rabbitmq',
    // A short standby retry so the ordered test's second instance is quick to notice.
    createAdapter: () => createRabbitmqAdapter({ url: rabbitmq.url, standbyRetryMs: 200, logger }),
  });
});

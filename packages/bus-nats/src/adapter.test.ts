import { busConformance } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type NatsResource, requireServer, useNats } from '@flotilla/testkit';
import { afterAll, beforeAll, describe } from 'vitest';
import { createNatsAdapter } from './adapter.js';

const server = await requireServer('nats');
const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe.skipIf(!server.ok)('nats', () => {
  let nats: NatsResource;
  beforeAll(async () => {
    nats = await useNats();
  });
  afterAll(async () => {
    await nats?.release();
  });

  busConformance({
    name: 'nats',
    // A short ack_wait so a crashed consumer's message comes back within the test.
    createAdapter: () => createNatsAdapter({ url: nats.url, prefix: nats.prefix, ackWaitMs: 2000, logger }),
  });
});

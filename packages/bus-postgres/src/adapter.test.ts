import { busConformance } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type PostgresResource, usePostgres } from '@flotilla/testkit';
import { afterAll, beforeAll } from 'vitest';
import { createPostgresAdapter } from './adapter.js';

let database: PostgresResource;
const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

beforeAll(async () => {
  database = await usePostgres();
});
afterAll(async () => {
  await database?.release();
});

busConformance({
  name: 'postgres',
  // A short lease so a crashed consumer's message comes back within the test.
  createAdapter: () =>
    createPostgresAdapter({
      url: database.url,
      leaseMs: 1500,
      pollIntervalMs: 200,
      maxConnections: 4,
      logger,
    }),
});

import { fileURLToPath } from 'node:url';
import { createBus } from '@flotilla/bus';
import {
  assertBuilt,
  formatKillTestResult,
  KILL_GROUP,
  KillItem,
  killTestSettings,
  runKillTest,
} from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { createPostgresAdapter } from './adapter.js';

/** The issue asks for 20,000; `npm test` runs 3,000 (FLOTILLA_BUS_KILL_MESSAGES runs more). */
const settings = killTestSettings({ messages: 3000 });
const logger = createLogger({ service: 'kill-test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const path = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

describe('kill -9 during outbox → postgres bus → inbox', () => {
  test(`applies each of ${settings.messages} messages exactly once while consumers and relays are killed`, {
    timeout: 180_000 + settings.messages * 40,
  }, async ({ postgres, processes }) => {
    assertBuilt([path('../../bus/'), path('../')], 'npx tsc -b packages/bus-postgres');
    const bus = await createBus({
      adapter: createPostgresAdapter({ url: postgres.url, logger }),
      service: 'kill-test',
      logger,
    });
    try {
      await bus.declare(KillItem, { group: KILL_GROUP });
      const result = await runKillTest({
        ...settings,
        pool: postgres.pool,
        processes,
        consumerScript: path('./fixtures/kill-consumer.mjs'),
        relayScript: path('./fixtures/kill-relay.mjs'),
        env: { KILL_DATABASE_URL: postgres.url, FLOTILLA_LOG_LEVEL: 'error' },
        countDeadLetters: async () => (await bus.deadLetters.list({ topic: KillItem.topic })).length,
      });
      console.log(formatKillTestResult('postgres', result));
      expect(result.duplicates).toEqual([]);
      expect(result).toMatchObject({
        effects: settings.messages,
        missing: 0,
        unpublished: 0,
        deadLetters: 0,
      });
      expect(result.kills).toBeGreaterThan(0);
    } finally {
      await bus.close();
    }
  });
});

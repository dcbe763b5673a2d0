import { checkDlqCommand, runBusCommand } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { describe, expect } from 'vitest';
import { createPostgresAdapter } from './adapter.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });

describe('flotilla bus dlq on PostgreSQL', () => {
  test('lists, replays and purges dead letters', async ({ postgres }) => {
    await checkDlqCommand({
      url: postgres.url,
      createAdapter: () => createPostgresAdapter({ url: postgres.url, pollIntervalMs: 50, logger }),
    });
  });

  test('refuses to purge without a filter and an unknown action', async ({ postgres }) => {
    await expect(runBusCommand(['dlq', 'purge', '--url', postgres.url])).rejects.toThrow(
      'dlq purge needs --topic, --group or --id',
    );
    await expect(runBusCommand(['queue', 'list', '--url', postgres.url])).rejects.toMatchObject({
      code: 'USAGE',
    });
  });

  test('refuses a prefix, which PostgreSQL has no use for', async ({ postgres }) => {
    await expect(
      runBusCommand(['dlq', 'list', '--url', postgres.url, '--prefix', 'tenant-a']),
    ).rejects.toMatchObject({ code: 'INVALID_CONFIGURATION' });
  });
});

import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { type CommandIO, createLogger } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import { createPostgresAdapter } from './adapter.js';
import { busCommand } from './cli.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Charged = defineMessage('payment.charged', Type.Object({ id: Type.String() }), { topic: 'payments' });

async function run(args: string[], url: string): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk) => {
    out += String(chunk);
  });
  const io: CommandIO = { stdout, stderr: new PassThrough(), env: {}, cwd: process.cwd() };
  // As the flotilla CLI parses them.
  const { values, positionals } = parseArgs({
    args: [...args, '--url', url],
    options: busCommand.options ?? {},
    allowPositionals: true,
    strict: true,
  });
  const code = await busCommand.run({ values, positionals }, io);
  return { code, out };
}

describe('flotilla bus dlq', () => {
  test('lists, replays and purges dead letters', async ({ postgres }) => {
    const bus = await createBus({
      adapter: createPostgresAdapter({ url: postgres.url, pollIntervalMs: 50, logger }),
      service: 'ledger',
      logger,
    });
    try {
      let healthy = false;
      const handled: string[] = [];
      await bus.subscribe(Charged, { maxAttempts: 1 }, ({ payload }) => {
        if (!healthy) throw new Error('ledger offline');
        handled.push(payload.id);
      });
      await bus.publish(Charged, { id: 'p-1' });
      await bus.publish(Charged, { id: 'p-2' });
      await waitFor(async () => (await bus.deadLetters.list()).length === 2, 'two dead letters');

      const listed = await run(['dlq', 'list', '--topic', 'payments'], postgres.url);
      expect(listed.code).toBe(0);
      expect(listed.out).toContain('reason=max-attempts  attempts=1');
      expect(listed.out).toContain('INTERNAL: ledger offline');
      expect(listed.out).toMatch(/2 dead letters\n$/);
      const json = JSON.parse((await run(['dlq', 'list', '--json'], postgres.url)).out) as { id: string }[];
      expect(json).toHaveLength(2);

      healthy = true;
      expect((await run(['dlq', 'replay', '--id', json[0]?.id ?? ''], postgres.url)).out).toBe(
        'replayed 1 dead letter\n',
      );
      await waitFor(() => handled.length === 1, 'the replayed message handled');
      expect((await run(['dlq', 'purge', '--group', 'ledger'], postgres.url)).out).toBe(
        'purged 1 dead letter\n',
      );
      expect(await bus.deadLetters.list()).toEqual([]);
      await expect(run(['dlq', 'purge'], postgres.url)).rejects.toThrow(
        'dlq purge needs --topic, --group or --id',
      );
      await expect(run(['queue', 'list'], postgres.url)).rejects.toMatchObject({ code: 'USAGE' });
    } finally {
      await bus.close();
    }
  });
});

import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { parseArgs } from 'node:util';
import { type CommandIO, createLogger } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import type { BusAdapter } from '../adapter.js';
import { createBus } from '../bus.js';
import { busCommand } from '../cli/index.js';
import { defineMessage } from '../message.js';
import { waitFor } from './harness.js';

/** Where `checkDlqCommand` finds the bus under test. */
export interface DlqCommandTarget {
  /** The bus URL given to the command as `--url`. */
  url: string;
  /** Given as `--prefix`, for adapters namespaced by a prefix on a shared server. */
  prefix?: string;
  /** An adapter on that same bus, for the service whose handler fails and later recovers. */
  createAdapter(): BusAdapter | Promise<BusAdapter>;
}

/** Runs `flotilla bus <args>` as the flotilla CLI would (same option parsing), capturing stdout. */
export async function runBusCommand(args: readonly string[]): Promise<{ code: number; out: string }> {
  const stdout = new PassThrough();
  let out = '';
  stdout.on('data', (chunk) => {
    out += String(chunk);
  });
  const io: CommandIO = { stdout, stderr: new PassThrough(), env: {}, cwd: process.cwd() };
  const { values, positionals } = parseArgs({
    args: [...args],
    options: busCommand.options ?? {},
    allowPositionals: true,
    strict: true,
  });
  const code = await busCommand.run({ values, positionals }, io);
  return { code, out };
}

/**
 * Dead-letters two messages on the bus of `target` (their handler fails, `maxAttempts: 1`), then
 * checks `flotilla bus dlq list` shows them, `replay` delivers one again to the now succeeding
 * handler and `purge` deletes the other.
 */
export async function checkDlqCommand(target: DlqCommandTarget): Promise<void> {
  const topic = `payments-${randomBytes(4).toString('hex')}`;
  const Charged = defineMessage('payment.charged', Type.Object({ id: Type.String() }), { topic });
  const where = ['--url', target.url, ...(target.prefix === undefined ? [] : ['--prefix', target.prefix])];
  const dlq = (...args: string[]) => runBusCommand(['dlq', ...args, ...where]);
  const logger = createLogger({ service: 'ledger', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
  const bus = await createBus({ adapter: await target.createAdapter(), service: 'ledger', logger });
  try {
    let healthy = false;
    const handled: string[] = [];
    await bus.subscribe(Charged, { maxAttempts: 1 }, ({ payload }) => {
      if (!healthy) throw new Error('ledger offline');
      handled.push(payload.id);
    });
    await bus.publish(Charged, { id: 'p-1' });
    await bus.publish(Charged, { id: 'p-2' });
    await waitFor(async () => (await bus.deadLetters.list({ topic })).length === 2, 'two dead letters');

    const listed = await dlq('list', '--topic', topic);
    expect(listed.code).toBe(0);
    expect(listed.out).toContain(`${topic}  group=ledger  type=payment.charged`);
    expect(listed.out).toContain('reason=max-attempts  attempts=1');
    expect(listed.out).toContain('ledger offline');
    expect(listed.out).toMatch(/2 dead letters\n$/);
    const json = JSON.parse((await dlq('list', '--topic', topic, '--json')).out) as {
      id: string;
      payload: { id: string };
    }[];
    expect(json.map((d) => d.payload.id).sort()).toEqual(['p-1', 'p-2']);
    const [first, second] = json as [(typeof json)[0], (typeof json)[0]];

    healthy = true;
    expect(await dlq('replay', '--id', first.id)).toEqual({ code: 0, out: 'replayed 1 dead letter\n' });
    await waitFor(() => handled.length === 1, 'the replayed message handled');
    expect(handled).toEqual([first.payload.id]);

    expect(await dlq('purge', '--topic', topic)).toEqual({ code: 0, out: 'purged 1 dead letter\n' });
    expect((await dlq('list', '--topic', topic)).out).toBe('0 dead letters\n');
    expect(await bus.deadLetters.list({ topic })).toEqual([]);
    expect(handled).not.toContain(second.payload.id);
  } finally {
    await bus.close();
  }
}

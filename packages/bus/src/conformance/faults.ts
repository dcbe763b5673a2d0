import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import { defineMessage, type IncomingMessage } from '../message.js';
import { waitFor } from './harness.js';
import type { DefineTest } from './index.js';

const Event = Type.Object({ n: Type.Integer() });

/** Faults: a consumer that dies holding a message, and connections dropped under traffic. */
export function faultTests(test: DefineTest): void {
  test('redelivery after crash', async (h, skip) => {
    const Created = defineMessage('invoice.created', Event, { topic: h.name('invoices') });
    const { bus: first, adapter } = await h.bus('mailer');
    if (adapter.testHooks?.crash === undefined) skip('the adapter has no crash hook');
    const held = h.gate();
    const firstSeen: IncomingMessage[] = [];
    await first.subscribe(Created, {}, async (message) => {
      firstSeen.push(message);
      await held.opened; // never acknowledged before the crash
    });
    const sent = await first.publish(Created, { n: 1 });
    await waitFor(() => firstSeen.length === 1, 'the first delivery');
    await adapter.testHooks?.crash?.();

    const { bus: second } = await h.bus('mailer');
    const secondSeen: IncomingMessage[] = [];
    await second.subscribe(Created, {}, (message) => {
      secondSeen.push(message);
    });
    await waitFor(() => secondSeen.length === 1, 'the redelivery');
    expect(secondSeen[0]?.envelope).toMatchObject({ messageId: sent.messageId, attempt: 2 });
    expect(secondSeen[0]?.payload).toEqual({ n: 1 });
  });

  test('reconnect', async (h, skip) => {
    const Created = defineMessage('invoice.created', Event, { topic: h.name('invoices') });
    const { bus: producer, adapter: producerAdapter } = await h.bus('billing');
    const { bus: consumer, adapter: consumerAdapter } = await h.bus('mailer');
    const drop = consumerAdapter.testHooks?.dropConnections;
    if (drop === undefined) skip('the adapter has no dropConnections hook');
    const seen = new Set<number>();
    await consumer.subscribe(Created, { concurrency: 4 }, async ({ payload }) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      seen.add(payload.n);
    });
    const publish = (from: number, count: number) =>
      Promise.all(Array.from({ length: count }, (_, i) => producer.publish(Created, { n: from + i })));
    await publish(0, 20);
    await waitFor(() => seen.size >= 5, 'some messages handled before the drop');
    await Promise.all([drop?.(), producerAdapter.testHooks?.dropConnections?.()]);
    await publish(20, 20);
    await waitFor(() => seen.size === 40, 'every acknowledged publish delivered', 30_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
}

import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import { defineMessage, type IncomingMessage } from '../message.js';
import { waitFor } from './harness.js';
import type { DefineTest } from './index.js';

const Order = Type.Object({ orderId: Type.String(), total: Type.Number() });

/** Publish/subscribe, competing consumers, multicast, durable subscriptions, publish validation. */
export function deliveryTests(test: DefineTest): void {
  test('publish/subscribe', async (h) => {
    const Placed = defineMessage('order.placed', Order, { topic: h.name('orders') });
    const { bus: shop } = await h.bus('shop');
    const { bus: billing } = await h.bus('billing');
    const received: IncomingMessage[] = [];
    await billing.subscribe(Placed, {}, (message) => {
      received.push(message);
    });
    const sent = await shop.publish(
      Placed,
      { orderId: 'o-1', total: 42.5 },
      {
        key: 'o-1',
        headers: { 'x-tenant': 'acme' },
        correlationId: 'flow-1',
        causationId: 'cause-1',
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      },
    );
    await waitFor(() => received.length === 1, 'the message');
    expect(received[0]).toMatchObject({
      type: 'order.placed',
      topic: h.name('orders'),
      group: 'billing',
      payload: { orderId: 'o-1', total: 42.5 },
      envelope: { ...sent, attempt: 1 },
    });
    expect(sent.messageId).toMatch(/^[0-9a-f-]{36}$/);
  });

  test('competing consumers', async (h) => {
    const Job = defineMessage('job.created', Type.Object({ n: Type.Integer() }), { topic: h.name('jobs') });
    const { bus: producer } = await h.bus('producer');
    const handled = new Map<string, string[]>();
    const busy = new Set<string>();
    for (const instance of ['a', 'b']) {
      const { bus } = await h.bus('worker');
      await bus.subscribe(Job, { concurrency: 1 }, async (message) => {
        // Each instance takes one job at a time and holds it until the other has one too, so
        // the test shows both instances consuming, not a race one of them happened to win.
        busy.add(instance);
        await waitFor(() => busy.size === 2, 'both instances to hold a job');
        handled.set(message.envelope.messageId, [
          ...(handled.get(message.envelope.messageId) ?? []),
          instance,
        ]);
      });
    }
    const ids = [];
    for (let n = 0; n < 10; n++) ids.push((await producer.publish(Job, { n })).messageId);
    await waitFor(() => handled.size === 10, 'ten jobs handled');
    for (const id of ids) expect(handled.get(id), `job ${id}`).toHaveLength(1);
    const byInstance = [...handled.values()].flat();
    expect(new Set(byInstance)).toEqual(new Set(['a', 'b']));
  });

  test('multicast to groups', async (h) => {
    const Placed = defineMessage('order.placed', Order, { topic: h.name('orders') });
    const { bus: shop } = await h.bus('shop');
    const got: Record<string, string[]> = { billing: [], shipping: [] };
    for (const service of ['billing', 'shipping'] as const) {
      for (let instance = 0; instance < 2; instance++) {
        const { bus } = await h.bus(service);
        await bus.subscribe(Placed, {}, (message) => {
          got[service]?.push(message.payload.orderId);
        });
      }
    }
    for (let n = 0; n < 5; n++) await shop.publish(Placed, { orderId: `o-${n}`, total: n });
    await waitFor(() => got.billing?.length === 5 && got.shipping?.length === 5, 'five messages per group');
    const expected = ['o-0', 'o-1', 'o-2', 'o-3', 'o-4'];
    expect([...(got.billing ?? [])].sort()).toEqual(expected);
    expect([...(got.shipping ?? [])].sort()).toEqual(expected);
  });

  test('durable subscription', async (h) => {
    const Placed = defineMessage('order.placed', Order, { topic: h.name('orders') });
    const { bus: shop } = await h.bus('shop');
    const { bus: audit } = await h.bus('audit');
    await audit.declare(Placed);
    for (let n = 0; n < 3; n++) await shop.publish(Placed, { orderId: `o-${n}`, total: n });
    const received: string[] = [];
    await audit.subscribe(Placed, {}, (message) => {
      received.push(message.payload.orderId);
    });
    await waitFor(() => received.length === 3, 'the messages published before the consumer started');
    expect(received.sort()).toEqual(['o-0', 'o-1', 'o-2']);
  });

  test('validation on publish', async (h) => {
    const Placed = defineMessage('order.placed', Order, { topic: h.name('orders') });
    const { bus } = await h.bus('shop');
    const received: unknown[] = [];
    await bus.subscribe(Placed, { group: 'billing' }, (message) => {
      received.push(message.payload);
    });
    const bad = { orderId: 'o-1', total: 'lots' } as unknown as { orderId: string; total: number };
    await expect(bus.publish(Placed, bad)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
      data: { errors: [expect.objectContaining({ field: '/payload/total' })] },
    });
    await bus.publish(Placed, { orderId: 'o-2', total: 1 });
    await waitFor(() => received.length === 1, 'the valid message');
    expect(received).toEqual([{ orderId: 'o-2', total: 1 }]);
  });
}

import { createLogger, ManualClock, NotFoundError } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import type { AdapterCapabilities } from './adapter.js';
import { createBus } from './bus.js';
import { causedBy } from './envelope.js';
import { createMemoryAdapter, MemoryBusAdapter } from './memory/adapter.js';
import { MemoryBroker } from './memory/broker.js';
import { defineMessage, defineRequest } from './message.js';

const logger = createLogger({ service: 'test', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Placed = defineMessage('order.placed', Type.Object({ orderId: Type.String() }), { topic: 'orders' });
const Shipped = defineMessage('order.shipped', Type.Object({ orderId: Type.String() }), {
  topic: 'shipments',
});

class LimitedAdapter extends MemoryBusAdapter {
  override readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'none',
    requestReply: false,
    partitions: false,
    durable: false,
  };
}

/** Lets queued microtasks and promise chains run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

describe('bus API', () => {
  it('refuses names that some broker could not carry, naming the field', () => {
    expect(() => defineMessage('order placed', Type.Object({}))).toThrow(/message type should match/);
    expect(() => defineMessage('order.placed', Type.Object({}), { topic: 'orders.>' })).toThrow(
      /topic should match/,
    );
  });

  it('refuses a subscription whose message types live on different topics', async () => {
    const bus = await createBus({ adapter: createMemoryAdapter(), service: 'billing', logger });
    await expect(bus.subscribe([Placed, Shipped], {}, () => {})).rejects.toMatchObject({
      code: 'INVALID_CONFIGURATION',
      data: { field: 'definitions' },
    });
    await expect(bus.subscribe(Placed, { concurrency: 0 }, () => {})).rejects.toThrow(
      'concurrency should be an integer in [1, 10000], got 0',
    );
  });

  it('says so when the adapter cannot order by key or answer requests', async () => {
    const bus = await createBus({ adapter: new LimitedAdapter(), service: 'billing', logger });
    await expect(bus.subscribe(Placed, { ordered: true }, () => {})).rejects.toMatchObject({
      code: 'BUS_UNSUPPORTED',
    });
    const Ping = defineRequest('ping', { request: Type.Object({}), reply: Type.Object({}) });
    await expect(bus.request('pong', Ping, {})).rejects.toMatchObject({ code: 'BUS_UNSUPPORTED' });
  });

  it('refuses to publish after close', async () => {
    const bus = await createBus({ adapter: createMemoryAdapter(), service: 'billing', logger });
    await bus.close();
    await expect(bus.publish(Placed, { orderId: 'o-1' })).rejects.toMatchObject({ code: 'BUS_CLOSED' });
  });

  it('carries correlation and causation to the messages a handler publishes', async () => {
    const broker = new MemoryBroker();
    const shop = await createBus({ adapter: createMemoryAdapter({ broker }), service: 'shop', logger });
    const shipping = await createBus({
      adapter: createMemoryAdapter({ broker }),
      service: 'shipping',
      logger,
    });
    const shippedEnvelopes: unknown[] = [];
    await shop.subscribe(Shipped, {}, ({ envelope }) => void shippedEnvelopes.push(envelope));
    await shipping.subscribe(Placed, {}, async ({ payload, envelope }) => {
      await shipping.publish(Shipped, payload, causedBy(envelope));
    });
    const placed = await shop.publish(Placed, { orderId: 'o-1' }, { traceparent: '00-abc-def-01' });
    await settle();
    expect(shippedEnvelopes).toEqual([
      expect.objectContaining({
        correlationId: placed.messageId,
        causationId: placed.messageId,
        traceparent: '00-abc-def-01',
      }),
    ]);
  });

  it('waits the backoff delay before each retry', async () => {
    const clock = new ManualClock(1_000_000);
    const bus = await createBus({
      adapter: createMemoryAdapter({ clock }),
      service: 'billing',
      clock,
      logger,
    });
    const attempts: number[] = [];
    await bus.subscribe(
      Placed,
      { maxAttempts: 3, backoff: { initialDelayMs: 1000, multiplier: 2, jitter: 'none' } },
      ({ envelope }) => {
        attempts.push(envelope.attempt);
        throw new NotFoundError('not yet');
      },
    );
    await bus.publish(Placed, { orderId: 'o-1' });
    await settle();
    expect(attempts).toEqual([1]);
    clock.advance(999);
    await settle();
    expect(attempts).toEqual([1]);
    clock.advance(1);
    await settle();
    expect(attempts).toEqual([1, 2]);
    clock.advance(1999);
    await settle();
    expect(attempts).toEqual([1, 2]);
    clock.advance(1);
    await settle();
    expect(attempts).toEqual([1, 2, 3]);
    const [dead] = await bus.deadLetters.list();
    expect(dead).toMatchObject({
      attempts: 3,
      firstFailureAt: 1_000_000,
      lastFailureAt: 1_003_000,
      error: { name: 'NotFoundError', code: 'NOT_FOUND' },
    });
  });
});

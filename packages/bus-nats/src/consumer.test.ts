import { createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger, newId } from '@flotilla/core';
import { test } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { describe, expect } from 'vitest';
import { createNatsAdapter } from './adapter.js';

const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Job = defineMessage('job.created', Type.Object({ n: Type.Integer() }), { topic: 'jobs' });

describe('nats consumer', () => {
  test('keeps a message whose handler outlives several ack waits', async ({ nats, onTestFinished }) => {
    const adapter = createNatsAdapter({ url: nats.url, prefix: nats.prefix, ackWaitMs: 1000, logger });
    const bus = await createBus({ adapter, service: 'worker', logger });
    onTestFinished(() => bus.close());
    const attempts: number[] = [];
    let finished = false;
    await bus.subscribe(Job, { concurrency: 4 }, async ({ envelope }) => {
      attempts.push(envelope.attempt);
      // Long enough for ack_wait to run out three times without the working() heartbeats.
      await new Promise((resolve) => setTimeout(resolve, 3500));
      finished = true;
    });
    await bus.publish(Job, { n: 1 });
    await waitFor(() => finished, 'the long handler');
    await bus.publish(Job, { n: 2 });
    await waitFor(() => attempts.length >= 2, 'the next message', 30_000);
    expect(attempts).toEqual([1, 1]);
  });

  test('drops a publish repeated with the same messageId (Nats-Msg-Id)', async ({ nats, onTestFinished }) => {
    const adapter = createNatsAdapter({ url: nats.url, prefix: nats.prefix, logger });
    const bus = await createBus({ adapter, service: 'worker', logger });
    onTestFinished(() => bus.close());
    const seen: number[] = [];
    await bus.subscribe(Job, {}, ({ payload }) => {
      seen.push(payload.n);
    });
    const messageId = newId();
    await bus.publish(Job, { n: 1 }, { messageId });
    await bus.publish(Job, { n: 1 }, { messageId });
    await bus.publish(Job, { n: 2 });
    await waitFor(() => seen.includes(2), 'the message after the duplicate');
    await bus.close();
    expect(seen.sort()).toEqual([1, 2]);
  });

  test('serializes a group declared earlier once it subscribes ordered', async ({ nats, onTestFinished }) => {
    const adapter = createNatsAdapter({ url: nats.url, prefix: nats.prefix, logger });
    const bus = await createBus({ adapter, service: 'view', logger });
    onTestFinished(() => bus.close());
    await bus.declare(Job); // the group's consumer is made unordered (max_ack_pending 1000)
    for (let n = 0; n < 8; n++) await bus.publish(Job, { n }, { key: 'k' });
    const order: number[] = [];
    let inFlight = 0;
    let overlaps = 0;
    await bus.subscribe(Job, { ordered: true, concurrency: 4 }, async ({ payload }) => {
      if (++inFlight > 1) overlaps++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push(payload.n);
      inFlight--;
    });
    await waitFor(() => order.length === 8, 'every message');
    expect(overlaps).toBe(0);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

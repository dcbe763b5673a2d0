import { newId } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import { defineMessage } from '../message.js';
import { waitFor } from './harness.js';
import type { DefineTest } from './index.js';

const Payment = Type.Object({ paymentId: Type.String(), amount: Type.Integer() });
const fastBackoff = { initialDelayMs: 5, maxDelayMs: 20 };

/** Receive-side validation, retries, the dead-letter queue and its replay and purge. */
export function failureTests(test: DefineTest): void {
  test('invalid message to DLQ', async (h) => {
    const Charged = defineMessage('payment.charged', Payment, { topic: h.name('payments') });
    const { bus } = await h.bus('ledger');
    const handled: string[] = [];
    await bus.subscribe(Charged, {}, (message) => {
      handled.push(message.payload.paymentId);
    });
    const envelope = (type: string) => ({ messageId: newId(), type, timestamp: Date.now(), attempt: 1 });
    const badPayload = envelope('payment.charged');
    const unknownType = envelope('payment.refunded');
    await bus.forward([
      { topic: Charged.topic, envelope: badPayload, payload: { paymentId: 'p-1', amount: 'ten' } },
      { topic: Charged.topic, envelope: unknownType, payload: { paymentId: 'p-2', amount: 1 } },
    ]);
    await bus.publish(Charged, { paymentId: 'p-3', amount: 3 });
    await waitFor(
      async () => (await bus.deadLetters.list({ topic: Charged.topic })).length === 2,
      'two dead letters',
    );
    await waitFor(() => handled.length === 1, 'the valid message');
    expect(handled).toEqual(['p-3']);
    const dead = await bus.deadLetters.list({ topic: Charged.topic });
    const byId = new Map(dead.map((d) => [d.envelope.messageId, d]));
    expect(byId.get(badPayload.messageId)).toMatchObject({
      group: 'ledger',
      reason: 'invalid-payload',
      attempts: 1,
      payload: { paymentId: 'p-1', amount: 'ten' },
      error: {
        code: 'VALIDATION_FAILED',
        data: { errors: [expect.objectContaining({ field: '/payload/amount' })] },
      },
    });
    expect(byId.get(unknownType.messageId)).toMatchObject({ reason: 'unknown-type', attempts: 1 });
  });

  test('retry with backoff', async (h) => {
    const Charged = defineMessage('payment.charged', Payment, { topic: h.name('payments') });
    const { bus } = await h.bus('ledger');
    const seen: { messageId: string; attempt: number }[] = [];
    await bus.subscribe(Charged, { maxAttempts: 5, backoff: fastBackoff }, (message) => {
      seen.push({ messageId: message.envelope.messageId, attempt: message.envelope.attempt });
      if (message.envelope.attempt < 3) throw new Error(`flaky ${message.envelope.attempt}`);
    });
    const sent = await bus.publish(Charged, { paymentId: 'p-1', amount: 1 });
    await waitFor(() => seen.length === 3, 'three attempts');
    expect(seen).toEqual([1, 2, 3].map((attempt) => ({ messageId: sent.messageId, attempt })));
    expect(await bus.deadLetters.list({ topic: Charged.topic })).toEqual([]);
  });

  test('DLQ after maxAttempts', async (h) => {
    const Charged = defineMessage('payment.charged', Payment, { topic: h.name('payments') });
    const { bus } = await h.bus('ledger');
    let calls = 0;
    await bus.subscribe(Charged, { maxAttempts: 3, backoff: fastBackoff }, () => {
      calls++;
      throw new Error('card processor down');
    });
    const before = Date.now();
    const sent = await bus.publish(
      Charged,
      { paymentId: 'p-1', amount: 7 },
      { headers: { 'x-tenant': 'acme' } },
    );
    await waitFor(
      async () => (await bus.deadLetters.list({ topic: Charged.topic })).length === 1,
      'a dead letter',
    );
    const [dead] = await bus.deadLetters.list({ topic: Charged.topic });
    expect(dead).toMatchObject({
      topic: Charged.topic,
      group: 'ledger',
      reason: 'max-attempts',
      attempts: 3,
      payload: { paymentId: 'p-1', amount: 7 },
      envelope: { messageId: sent.messageId, type: 'payment.charged', headers: { 'x-tenant': 'acme' } },
      error: { message: 'card processor down' },
    });
    expect(calls).toBe(3);
    expect(dead?.firstFailureAt).toBeGreaterThanOrEqual(before - 1000);
    expect(dead?.lastFailureAt).toBeGreaterThanOrEqual(dead?.firstFailureAt ?? Number.NaN);
  });

  test('DLQ replay and purge', async (h) => {
    const Charged = defineMessage('payment.charged', Payment, { topic: h.name('payments') });
    const { bus } = await h.bus('ledger');
    let failing = true;
    const succeeded: { messageId: string; attempt: number }[] = [];
    await bus.subscribe(Charged, { maxAttempts: 2, backoff: fastBackoff }, (message) => {
      if (failing || message.payload.paymentId === 'poison') throw new Error('still failing');
      succeeded.push({ messageId: message.envelope.messageId, attempt: message.envelope.attempt });
    });
    const sent = await bus.publish(Charged, { paymentId: 'p-1', amount: 1 });
    const deadCount = async (n: number) =>
      (await bus.deadLetters.list({ topic: Charged.topic })).length === n;
    await waitFor(() => deadCount(1), 'the message in the DLQ');
    failing = false;
    expect(await bus.deadLetters.replay({ topic: Charged.topic })).toBe(1);
    await waitFor(() => succeeded.length === 1, 'the replayed message');
    expect(succeeded).toEqual([{ messageId: sent.messageId, attempt: 1 }]);
    expect(await bus.deadLetters.list({ topic: Charged.topic })).toEqual([]);

    await bus.publish(Charged, { paymentId: 'poison', amount: 1 });
    await waitFor(() => deadCount(1), 'the poison message in the DLQ');
    await expect(bus.deadLetters.purge({})).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    const [poison] = await bus.deadLetters.list({ topic: Charged.topic });
    expect(await bus.deadLetters.purge({ ids: [poison?.id ?? ''] })).toBe(1);
    expect(await bus.deadLetters.list({ topic: Charged.topic })).toEqual([]);
  });
}

import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import { defineMessage } from '../message.js';
import { waitFor } from './harness.js';
import type { DefineTest } from './index.js';

/** Per-key FIFO with `ordered: true`, across competing instances, concurrency and retries. */
export function orderingTests(test: DefineTest): void {
  test('per-key order', async (h, skip) => {
    const Moved = defineMessage('stock.moved', Type.Object({ sku: Type.String(), seq: Type.Integer() }), {
      topic: h.name('stock'),
    });
    const { bus: producer, adapter } = await h.bus('warehouse');
    if (adapter.capabilities.orderedDelivery !== 'per-key') skip('the adapter has no per-key order');
    const keys = ['a', 'b', 'c', 'd'];
    const perKey = 12;
    const done = new Map<string, number[]>(keys.map((k) => [k, []]));
    const inFlight = new Set<string>();
    const violations: string[] = [];
    for (let instance = 0; instance < 2; instance++) {
      const { bus } = await h.bus('stock-view');
      await bus.subscribe(
        Moved,
        { ordered: true, concurrency: 4, maxAttempts: 5, backoff: { initialDelayMs: 5, maxDelayMs: 20 } },
        async ({ payload, envelope }) => {
          if (inFlight.has(payload.sku)) violations.push(`${payload.sku}#${payload.seq} overlapped`);
          inFlight.add(payload.sku);
          try {
            await new Promise((resolve) => setTimeout(resolve, 1));
            // Every fifth message fails once: its retry must still come before its successors.
            if (payload.seq % 5 === 0 && envelope.attempt === 1) throw new Error('transient');
            done.get(payload.sku)?.push(payload.seq);
          } finally {
            inFlight.delete(payload.sku);
          }
        },
      );
    }
    for (let seq = 0; seq < perKey; seq++) {
      for (const sku of keys) await producer.publish(Moved, { sku, seq }, { key: sku });
    }
    await waitFor(
      () => [...done.values()].every((list) => list.length === perKey),
      'every message handled',
      30_000,
    );
    expect(violations).toEqual([]);
    const expected = Array.from({ length: perKey }, (_, i) => i);
    for (const sku of keys) expect(done.get(sku), `key ${sku}`).toEqual(expected);
  });
}

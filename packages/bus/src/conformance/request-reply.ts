import { NotFoundError } from '@flotilla/core';
import { Type } from '@sinclair/typebox';
import { expect } from 'vitest';
import { defineRequest } from '../message.js';
import type { DefineTest } from './index.js';

const GetPrice = defineRequest('pricing.get-price', {
  request: Type.Object({ sku: Type.String() }),
  reply: Type.Object({ sku: Type.String(), cents: Type.Integer() }),
});

/** Request/reply: typed replies, errors that cross back, validation and deadlines. */
export function requestReplyTests(test: DefineTest): void {
  test('request/reply', async (h, skip) => {
    const target = h.name('pricing');
    const { bus: pricing, adapter } = await h.bus('pricing');
    if (!adapter.capabilities.requestReply) skip('the adapter has no request/reply');
    await pricing.respond(target, GetPrice, ({ payload }) => {
      if (payload.sku === 'missing') throw new NotFoundError(`no price for ${payload.sku}`);
      return { sku: payload.sku, cents: 1299 };
    });
    const { bus: shop } = await h.bus('shop');
    expect(await shop.request(target, GetPrice, { sku: 'book' }, { timeoutMs: 15_000 })).toEqual({
      sku: 'book',
      cents: 1299,
    });
    const results = await Promise.all(
      ['a', 'b', 'c'].map((sku) => shop.request(target, GetPrice, { sku }, { timeoutMs: 15_000 })),
    );
    expect(results.map((r) => r.sku)).toEqual(['a', 'b', 'c']);
    const missing = shop.request(target, GetPrice, { sku: 'missing' }, { timeoutMs: 15_000 });
    await expect(missing).rejects.toBeInstanceOf(NotFoundError);
    await expect(missing).rejects.toMatchObject({ code: 'NOT_FOUND', message: 'no price for missing' });
    const invalid = shop.request(target, GetPrice, { sku: 7 } as unknown as { sku: string });
    await expect(invalid).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  test('request deadline', async (h, skip) => {
    const target = h.name('slow-pricing');
    const { bus: pricing, adapter } = await h.bus('pricing');
    if (!adapter.capabilities.requestReply) skip('the adapter has no request/reply');
    const stuck = h.gate();
    await pricing.respond(target, GetPrice, async ({ payload }) => {
      await stuck.opened;
      return { sku: payload.sku, cents: 1 };
    });
    const { bus: shop } = await h.bus('shop');
    await expect(shop.request(target, GetPrice, { sku: 'book' }, { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'TIMEOUT',
      data: { target, type: 'pricing.get-price' },
    });
    await expect(
      shop.request(h.name('nobody-answers'), GetPrice, { sku: 'book' }, { deadline: Date.now() + 200 }),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
    await expect(
      shop.request(target, GetPrice, { sku: 'book' }, { deadline: Date.now() - 1 }),
    ).rejects.toMatchObject({ code: 'TIMEOUT' });
  });
}

import { describe, expect, it } from 'vitest';
import { createNatsAdapter } from './adapter.js';
import { Names, token } from './names.js';

describe('nats names', () => {
  it('maps dotted bus names to one token each, reversibly', () => {
    expect(token('orders.eu')).toBe('orders~eu');
    expect(token('orders_eu')).not.toBe(token('orders.eu'));
    const names = new Names('flotilla');
    expect(names.stream('orders.eu')).toBe('flotilla_orders~eu');
    expect(names.messageSubject('orders.eu')).toBe('flotilla.orders~eu.m');
    expect(names.replaySubject('orders.eu', 'billing.v2')).toBe('flotilla.orders~eu.g.billing~v2');
    expect(names.deadLetterFilter('orders.eu', undefined)).toBe('flotilla._dlq.orders~eu.*');
  });

  it('refuses a prefix that is not a NATS token, naming it', () => {
    expect(() => new Names('a.b')).toThrow(/prefix should match .* got "a.b"/);
  });

  it('refuses a url that is not nats://, naming it', () => {
    expect(() => createNatsAdapter({ url: 'redis://localhost:6379' })).toThrow(
      expect.objectContaining({
        code: 'INVALID_CONFIGURATION',
        message: expect.stringContaining('redis://'),
      }),
    );
  });
});

import { type Bus, createBus, defineMessage } from '@flotilla/bus';
import { waitFor } from '@flotilla/bus/conformance';
import { createLogger } from '@flotilla/core';
import { type RabbitmqResource, rabbitmqManagementUrl, requireServer, useRabbitmq } from '@flotilla/testkit';
import { Type } from '@sinclair/typebox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRabbitmqAdapter, type RabbitmqBusAdapter } from './adapter.js';

const server = await requireServer('rabbitmq');
const logger = createLogger({ service: 'bus', level: process.env.FLOTILLA_LOG_LEVEL ?? 'silent' });
const Event = Type.Object({ n: Type.Integer() });

/** Calls the management API (fetch refuses credentials in the URL, so they go in a header). */
async function management(method: string, path: string): Promise<unknown> {
  const base = new URL(rabbitmqManagementUrl());
  const auth = Buffer.from(
    `${decodeURIComponent(base.username) || 'guest'}:${decodeURIComponent(base.password) || 'guest'}`,
  );
  base.username = '';
  base.password = '';
  const response = await fetch(new URL(`api/${path}`, base.href.endsWith('/') ? base : `${base.href}/`), {
    method,
    headers: { authorization: `Basic ${auth.toString('base64')}` },
  });
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}`);
  const text = await response.text();
  return text === '' ? undefined : JSON.parse(text);
}

describe.skipIf(!server.ok)('rabbitmq consumer', () => {
  let rabbitmq: RabbitmqResource;
  const buses: Bus[] = [];
  beforeAll(async () => {
    rabbitmq = await useRabbitmq();
  });
  afterEach(async () => {
    await Promise.all(buses.splice(0).map((bus) => bus.close().catch(() => {})));
  });
  afterAll(async () => {
    await rabbitmq?.release();
  });

  async function open(service: string): Promise<{ bus: Bus; adapter: RabbitmqBusAdapter }> {
    const adapter = createRabbitmqAdapter({ url: rabbitmq.url, standbyRetryMs: 100, logger });
    const bus = await createBus({ adapter, service, logger });
    buses.push(bus);
    return { bus, adapter };
  }

  it('resumes after the broker closes its connection (management API)', async () => {
    const Created = defineMessage('invoice.created', Event, { topic: `${rabbitmq.prefix}.invoices` });
    const { bus: producer } = await open('billing');
    const { bus: consumer, adapter } = await open('mailer');
    const seen = new Set<number>();
    await consumer.subscribe(Created, { concurrency: 2 }, ({ payload }) => {
      seen.add(payload.n);
    });
    for (let n = 0; n < 5; n++) await producer.publish(Created, { n });
    await waitFor(() => seen.size === 5, 'the first messages');
    // The management API lists a connection once its stats arrive; wait for it.
    let name: string | undefined;
    await waitFor(
      async () => {
        const connections = (await management(
          'GET',
          `vhosts/${encodeURIComponent(rabbitmq.vhost)}/connections`,
        )) as { name: string; client_properties?: { connection_name?: string } }[];
        name = connections.find((c) => c.client_properties?.connection_name === adapter.connectionName)?.name;
        return name !== undefined;
      },
      'the connection in the management API',
      60_000,
    );
    await management('DELETE', `connections/${encodeURIComponent(name ?? '')}`);
    for (let n = 5; n < 10; n++) await producer.publish(Created, { n });
    await waitFor(() => seen.size === 10, 'the messages published after the close', 60_000);
    expect([...seen].sort((a, b) => a - b)).toEqual(Array.from({ length: 10 }, (_, i) => i));
  });

  it('a standby ordered consumer takes over when the active one crashes', async () => {
    const Moved = defineMessage('stock.moved', Event, { topic: `${rabbitmq.prefix}.stock` });
    const { bus: producer } = await open('warehouse');
    const seen: { who: string; n: number; attempt: number }[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const adapters: RabbitmqBusAdapter[] = [];
    for (const who of ['a', 'b']) {
      const { bus, adapter } = await open('stock-view');
      adapters.push(adapter);
      await bus.subscribe(Moved, { ordered: true, concurrency: 4 }, async ({ payload, envelope }) => {
        seen.push({ who, n: payload.n, attempt: envelope.attempt });
        if (seen.length === 1) await held; // the first active consumer never finishes
      });
    }
    for (let n = 0; n < 3; n++) await producer.publish(Moved, { n }, { key: 'sku-1' });
    await waitFor(() => seen.length === 1, 'the first delivery');
    const active = seen[0]?.who === 'a' ? 0 : 1;
    await adapters[active]?.testHooks.crash?.();
    release();
    await waitFor(() => seen.length === 4, 'the standby to handle everything', 60_000);
    const standby = active === 0 ? 'b' : 'a';
    expect(seen.slice(1)).toEqual([
      { who: standby, n: 0, attempt: 2 },
      { who: standby, n: 1, attempt: 2 },
      { who: standby, n: 2, attempt: 2 },
    ]);
  });

  it('a retry goes back only to the group that failed', async () => {
    const Paid = defineMessage('order.paid', Event, { topic: `${rabbitmq.prefix}.orders` });
    const { bus: shop } = await open('shop');
    const { bus: billing } = await open('billing');
    const { bus: shipping } = await open('shipping');
    const billed: number[] = [];
    const shipped: number[] = [];
    await billing.subscribe(Paid, { backoff: { initialDelayMs: 50, maxDelayMs: 50 } }, ({ envelope }) => {
      billed.push(envelope.attempt);
      if (envelope.attempt < 3) throw new Error('flaky');
    });
    await shipping.subscribe(Paid, {}, ({ envelope }) => {
      shipped.push(envelope.attempt);
    });
    await shop.publish(Paid, { n: 1 });
    await waitFor(() => billed.length === 3 && shipped.length === 1, 'three billing attempts');
    // Give a stray copy time to arrive before checking there is none (not a timing assertion).
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(billed).toEqual([1, 2, 3]);
    expect(shipped).toEqual([1]);
  });
});

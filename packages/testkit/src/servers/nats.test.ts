import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { describe, expect } from 'vitest';
import { test } from '../fixtures.js';
import { useNats } from './nats.js';

describe('nats fixture', () => {
  test('publishes to a JetStream stream named with the prefix and fetches the message back', async ({
    nats,
  }) => {
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `${nats.prefix}_orders`, subjects: [`${nats.prefix}.orders.>`] });
      const js = jetstream(nc);
      await js.publish(`${nats.prefix}.orders.created`, 'order 1');
      const consumer = await js.consumers.get(`${nats.prefix}_orders`);
      const message = await consumer.next({ expires: 5_000 });
      expect(message?.string()).toBe('order 1');
      message?.ack();
    } finally {
      await nc.close();
    }
  });

  test('deletes the streams and buckets named with a prefix once it is released', async ({ nats }) => {
    const other = await useNats();
    expect(other.prefix).not.toBe(nats.prefix);
    const nc = await connect({ servers: nats.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: `${other.prefix}_a`, subjects: [`${other.prefix}.a`] });
      await jsm.streams.add({
        name: `KV_${other.prefix}_bucket`,
        subjects: [`$KV.${other.prefix}_bucket.>`],
      });
      await jsm.streams.add({ name: `${nats.prefix}_kept`, subjects: [`${nats.prefix}.kept`] });
      await other.release();
      const names: string[] = [];
      for await (const name of jsm.streams.names()) names.push(name);
      expect(names.filter((name) => name.includes(other.prefix))).toEqual([]);
      expect(names).toContain(`${nats.prefix}_kept`);
    } finally {
      await nc.close();
    }
  });
});

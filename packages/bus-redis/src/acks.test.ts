import { test } from '@flotilla/testkit';
import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { AckBatcher } from './acks.js';

/** A stream with `count` entries read into the pending list of consumer `c` of group `g`. */
async function pendingEntries(redis: Redis, stream: string, count: number): Promise<string[]> {
  await redis.xgroup('CREATE', stream, 'g', '$', 'MKSTREAM');
  for (let i = 0; i < count; i++) await redis.xadd(stream, '*', 'n', String(i));
  const reply = (await redis.xreadgroup('GROUP', 'g', 'c', 'COUNT', count, 'STREAMS', stream, '>')) as [
    string,
    [string, string[]][],
  ][];
  return (reply[0]?.[1] ?? []).map(([id]) => id);
}

async function pendingCount(redis: Redis, stream: string): Promise<number> {
  return ((await redis.xpending(stream, 'g')) as [number])[0];
}

describe('ack batcher', () => {
  test('acknowledges every entry of a burst, each ack resolving once Redis has it', async ({ redis }) => {
    const client = new Redis(redis.url, { enableAutoPipelining: true });
    try {
      const stream = `${redis.prefix}acks`;
      const ids = await pendingEntries(client, stream, 20);
      const batcher = new AckBatcher(client, stream, 'g');
      await Promise.all(ids.map((id) => batcher.ack(id)));
      expect(await pendingCount(client, stream)).toBe(0);
    } finally {
      client.disconnect();
    }
  });

  test('fails every ack of a batch whose XACK failed and leaves its entries pending', async ({ redis }) => {
    const admin = new Redis(redis.url);
    const client = new Redis(redis.url, { maxRetriesPerRequest: 0, enableOfflineQueue: false });
    try {
      const stream = `${redis.prefix}acks-failed`;
      const ids = await pendingEntries(admin, stream, 5);
      await client.ping();
      client.disconnect();
      const batcher = new AckBatcher(client, stream, 'g');
      const results = await Promise.allSettled(ids.map((id) => batcher.ack(id)));
      expect(results.map((r) => r.status)).toEqual(ids.map(() => 'rejected'));
      expect(await pendingCount(admin, stream)).toBe(5);
    } finally {
      admin.disconnect();
      client.disconnect();
    }
  });
});

import { Redis } from 'ioredis';
import { describe, expect } from 'vitest';
import { test } from '../fixtures.js';
import { useRedis } from './redis.js';

describe('redis fixture', () => {
  test('sets and gets a key under the test prefix', async ({ redis }) => {
    expect(redis.prefix).toMatch(/^t_[0-9a-f]{12}:$/);
    const client = new Redis(redis.url);
    try {
      await client.set(`${redis.prefix}greeting`, 'hello');
      expect(await client.get(`${redis.prefix}greeting`)).toBe('hello');
    } finally {
      client.disconnect();
    }
  });

  test('deletes the keys under a prefix once it is released, and only those', async ({ redis }) => {
    const other = await useRedis();
    expect(other.prefix).not.toBe(redis.prefix);
    const client = new Redis(redis.url);
    try {
      for (let i = 0; i < 1_200; i++) await client.set(`${other.prefix}k${i}`, 'x');
      await client.set(`${redis.prefix}kept`, 'x');
      await other.release();
      const [, left] = await client.scan('0', 'MATCH', `${other.prefix}*`, 'COUNT', 10_000);
      expect(left).toEqual([]);
      expect(await client.get(`${redis.prefix}kept`)).toBe('x');
    } finally {
      client.disconnect();
    }
  });
});

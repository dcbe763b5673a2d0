import { Etcd3 } from 'etcd3';
import { describe, expect } from 'vitest';
import { test } from '../fixtures.js';
import { useEtcd } from './etcd.js';

describe('etcd fixture', () => {
  test('puts and gets a key under the test prefix', async ({ etcd }) => {
    expect(etcd.prefix).toMatch(/^t_[0-9a-f]{12}\/$/);
    const client = new Etcd3({ hosts: etcd.url });
    try {
      await client.put(`${etcd.prefix}service/orders`).value('10.0.0.1:8080');
      expect(await client.get(`${etcd.prefix}service/orders`).string()).toBe('10.0.0.1:8080');
    } finally {
      client.close();
    }
  });

  test('deletes the keys under a prefix once it is released, and only those', async ({ etcd }) => {
    const other = await useEtcd();
    expect(other.prefix).not.toBe(etcd.prefix);
    const client = new Etcd3({ hosts: etcd.url });
    try {
      await client.put(`${other.prefix}a`).value('1');
      await client.put(`${other.prefix}b/c`).value('2');
      await client.put(`${etcd.prefix}kept`).value('3');
      await other.release();
      expect(await client.getAll().prefix(other.prefix).keys()).toEqual([]);
      expect(await client.get(`${etcd.prefix}kept`).string()).toBe('3');
    } finally {
      client.close();
    }
  });
});

import { requireServer, useEtcd } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { captureLogger, until } from '../fixtures/helpers.js';
import { storeConformance, testInstance } from './conformance.js';
import { EtcdStore, parseEtcdUrl } from './etcd-store.js';
import type { StoreEvent } from './store.js';

const quiet = captureLogger('warn').logger;

const server = await requireServer('etcd');

describe('parseEtcdUrl', () => {
  it('reads hosts, TLS, credentials and the key prefix from an etcd:// URL', () => {
    expect(parseEtcdUrl('etcd://127.0.0.1:2379')).toEqual({ hosts: ['http://127.0.0.1:2379'] });
    expect(parseEtcdUrl('etcds://u:p%40ss@a:2379,b:2379/flotilla/prod/')).toEqual({
      hosts: ['https://a:2379', 'https://b:2379'],
      prefix: 'flotilla/prod/',
      auth: { username: 'u', password: 'p@ss' },
    });
    expect(() => parseEtcdUrl('etcd://')).toThrow('--store etcd URL should be etcd://host:port[/prefix]');
  });
});

describe.skipIf(!server.ok)('etcd store', () => {
  storeConformance(
    'etcd',
    async () => {
      const etcd = await useEtcd();
      const make = () => new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
      return { store: make(), another: make, release: etcd.release };
    },
    {
      skip: [
        {
          test: 'evicts conditionally: never an instance whose lease is still valid',
          reason:
            "etcd expires leases itself (capabilities.leaseExpiry = 'store'); see the lease expiry test",
        },
      ],
    },
  );
});

describe.skipIf(!server.ok)('etcd store leases', () => {
  it('lets etcd expire an instance that stops renewing: an eviction every process sees', async () => {
    const etcd = await useEtcd();
    const a = new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
    const b = new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
    try {
      const seenByB: StoreEvent[] = [];
      await a.open(() => {});
      await b.open((e) => seenByB.push(e));
      const short = { renewalIntervalMs: 300, durationMs: 1_000 };
      await a.put(testInstance({ instanceId: 'renewing', lease: short }), 'registered');
      await a.put(testInstance({ instanceId: 'silent', lease: short }), 'registered');
      const evicted = () => seenByB.find((e) => e.type === 'change' && e.change.type === 'evicted');
      await until(
        async () => {
          // Renewed through the other process: any process can renew any instance.
          await b.renew('orders', 'renewing', Date.now());
          return evicted() !== undefined;
        },
        15_000,
        'etcd to expire the silent instance',
      );
      const change = evicted();
      expect(change?.type === 'change' && change.change.instance.instanceId).toBe('silent');
      expect((await a.snapshot()).instances.map((i) => i.instanceId)).toEqual(['renewing']);
    } finally {
      await a.close();
      await b.close();
      await etcd.release();
    }
  });

  it('keeps leases alive itself while self-preservation holds', async () => {
    const etcd = await useEtcd();
    const store = new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
    try {
      await store.open(() => {});
      const instance = testInstance({ lease: { renewalIntervalMs: 300, durationMs: 1_000 } });
      await store.put(instance, 'registered');
      const until3s = Date.now() + 3_000;
      while (Date.now() < until3s) {
        await store.holdLeases([instance]);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect((await store.snapshot()).instances).toHaveLength(1);
    } finally {
      await store.close();
      await etcd.release();
    }
  });

  it('shares renewal counts between processes for the registry-wide rate', async () => {
    const etcd = await useEtcd();
    const a = new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
    const b = new EtcdStore({ hosts: [etcd.url], prefix: etcd.prefix, logger: quiet });
    try {
      const seen: StoreEvent[] = [];
      await a.open(() => {});
      await b.open((e) => seen.push(e));
      await a.put(testInstance(), 'registered');
      await a.renew('orders', 'orders-1', Date.now()); // the first count is a baseline for b
      await new Promise((resolve) => setTimeout(resolve, 1_300));
      for (let i = 0; i < 4; i++) await a.renew('orders', 'orders-1', Date.now());
      const counted = () => seen.reduce((sum, e) => sum + (e.type === 'renewals' ? e.count : 0), 0);
      await until(() => counted() === 4, 5_000, 'b to count 4 renewals');
    } finally {
      await a.close();
      await b.close();
      await etcd.release();
    }
  });
});

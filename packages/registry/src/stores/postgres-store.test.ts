import { requireServer, usePostgres } from '@flotilla/testkit';
import { describe, expect, it } from 'vitest';
import { captureLogger, until } from '../fixtures/helpers.js';
import { storeConformance, testInstance } from './conformance.js';
import { PostgresStore } from './postgres-store.js';
import type { StoreEvent } from './store.js';

const quiet = captureLogger('warn').logger;

const server = await requireServer('postgres');

describe.skipIf(!server.ok)('postgres store', () => {
  storeConformance(
    'postgres',
    async () => {
      const db = await usePostgres();
      return {
        store: new PostgresStore({ url: db.url, logger: quiet }),
        another: () => new PostgresStore({ url: db.url, logger: quiet }),
        release: db.release,
      };
    },
    {
      skip: [
        {
          test: 'a renewal of an unknown instance is refused',
          reason: 'renewals are batched once a second; the registry refuses unknown instances from its view',
        },
      ],
    },
  );
});

describe.skipIf(!server.ok)('postgres store across processes', () => {
  it('replays the changes a process missed while its change feed was down', async () => {
    const db = await usePostgres();
    const a = new PostgresStore({ url: db.url, nodeId: 'node-a', logger: quiet });
    const logB = captureLogger('warn');
    const b = new PostgresStore({ url: db.url, nodeId: 'node-b', logger: logB.logger });
    try {
      await a.open(() => {});
      const seen: StoreEvent[] = [];
      await b.open((e) => seen.push(e));
      const first = await a.put(testInstance({ instanceId: 'before' }), 'registered');
      await until(() => changes(seen).includes(first.revision));
      await db.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flotilla-registry-node-b'",
      );
      const during = await a.put(testInstance({ instanceId: 'during' }), 'registered');
      const gone = await a.remove('orders', 'before', 'deregistered');
      await until(() => changes(seen).includes(gone?.revision ?? -1), 10_000, 'the replayed changes');
      expect(changes(seen)).toEqual([first.revision, during.revision, gone?.revision]);
      expect(logB.lines.some((l) => String(l.msg).includes('change feed connection lost'))).toBe(true);
    } finally {
      await a.close();
      await b.close();
      await db.release();
    }
  });

  it('prunes the change log, and resyncs a process whose missed changes were pruned', async () => {
    const db = await usePostgres();
    const a = new PostgresStore({ url: db.url, nodeId: 'node-a', logger: quiet, changeRetentionMs: 0 });
    const b = new PostgresStore({ url: db.url, nodeId: 'node-b', logger: quiet });
    try {
      await a.open(() => {});
      const seen: StoreEvent[] = [];
      await b.open((e) => seen.push(e));
      const first = await a.put(testInstance({ instanceId: 'first' }), 'registered');
      await until(() => changes(seen).includes(first.revision));
      await db.pool.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'flotilla-registry-node-b'",
      );
      await a.put(testInstance({ instanceId: 'second' }), 'registered');
      const third = await a.put(testInstance({ instanceId: 'third' }), 'registered');
      expect(await a.isLeader()).toBe(true); // the leader prunes (retention 0: all but the newest)
      expect(await a.changesSince(first.revision)).toBeUndefined();
      expect(await a.changesSince(third.revision)).toEqual([]);
      await until(() => seen.some((e) => e.type === 'resync'), 10_000, 'the resync');
      const resync = seen.find((e) => e.type === 'resync');
      expect(resync?.type === 'resync' && resync.snapshot.instances.map((i) => i.instanceId).sort()).toEqual([
        'first',
        'second',
        'third',
      ]);
    } finally {
      await a.close();
      await b.close();
      await db.release();
    }
  });

  it('shares renewals: counts for self-preservation and renewal times', async () => {
    const db = await usePostgres();
    const a = new PostgresStore({ url: db.url, nodeId: 'node-a', logger: quiet, renewalFlushMs: 100 });
    const b = new PostgresStore({ url: db.url, nodeId: 'node-b', logger: quiet });
    try {
      await a.open(() => {});
      const seen: StoreEvent[] = [];
      await b.open((e) => seen.push(e));
      const now = Date.now();
      await a.put(testInstance({ lastRenewedAt: now }), 'registered');
      for (let i = 1; i <= 3; i++) await a.renew('orders', 'orders-1', now + i * 1_000);
      const renewals = () => seen.flatMap((e) => (e.type === 'renewals' ? [e] : []));
      await until(
        () => renewals().some((e) => e.renewed?.some((r) => r.at === now + 3_000)),
        10_000,
        'renewal times',
      );
      expect(renewals().reduce((sum, e) => sum + e.count, 0)).toBe(3);
    } finally {
      await a.close();
      await b.close();
      await db.release();
    }
  });

  it('moves leadership to another process when the leader goes', async () => {
    const db = await usePostgres();
    const a = new PostgresStore({ url: db.url, logger: quiet });
    const b = new PostgresStore({ url: db.url, logger: quiet });
    try {
      await a.open(() => {});
      await b.open(() => {});
      expect(await a.isLeader()).toBe(true);
      expect(await b.isLeader()).toBe(false);
      await a.close();
      await until(() => b.isLeader(), 10_000, 'b to lead');
    } finally {
      await a.close();
      await b.close();
      await db.release();
    }
  });
});

function changes(events: StoreEvent[]): number[] {
  return events.flatMap((e) => (e.type === 'change' ? [e.change.revision] : []));
}

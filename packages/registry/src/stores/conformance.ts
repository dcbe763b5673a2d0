import { afterEach, describe, expect, it } from 'vitest';
import { type Change, DEFAULT_LEASE, type Instance } from '../model.js';
import type { RegistryStore, StoreEvent } from './store.js';

/** What a store factory hands the suite for one test. */
export interface ConformanceStores {
  /** A new, unopened store on empty data. */
  store: RegistryStore;
  /** Another unopened store on the same data (a second registry process or a restart), if possible. */
  another?: () => RegistryStore;
  /** Removes the test's data (database, key prefix, file). */
  release?: () => Promise<void>;
}

export interface ConformanceOptions {
  /** Tests this store cannot pass, each with the reason (printed as the skip note). */
  skip?: { test: string; reason: string }[];
}

/** A plain instance for tests; `overrides` win. */
export function testInstance(overrides: Partial<Instance> = {}): Instance {
  const now = Date.now();
  return {
    service: 'orders',
    instanceId: 'orders-1',
    host: '10.0.0.5',
    port: 8080,
    metadata: {},
    status: 'UP',
    reportedStatus: 'UP',
    lease: { ...DEFAULT_LEASE },
    registeredAt: now,
    lastRenewedAt: now,
    updatedAt: now,
    revision: 0,
    ...overrides,
  };
}

/** Opens `store` and records what it delivers. */
async function opened(store: RegistryStore) {
  const events: StoreEvent[] = [];
  const snapshot = await store.open((event) => events.push(event));
  const changes = () => events.flatMap((e) => (e.type === 'change' ? [e.change] : []));
  return {
    store,
    snapshot,
    events,
    changes,
    /** Waits until a change with `revision` (or later) was delivered. */
    async seen(revision: number, timeoutMs = 5_000): Promise<Change[]> {
      await until(() => changes().some((c) => c.revision >= revision), timeoutMs, `change ${revision}`);
      return changes();
    },
  };
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * The registry store conformance suite. Every store's test file calls it with a factory; a store
 * that cannot do something lists the test in `skip` with the reason, never silently.
 */
export function storeConformance(
  name: string,
  factory: () => Promise<ConformanceStores>,
  options: ConformanceOptions = {},
): void {
  describe(`registry store conformance: ${name}`, () => {
    const open: RegistryStore[] = [];
    const releases: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close().catch(() => {});
      for (const release of releases.splice(0)) await release();
    });
    const setup = async () => {
      const stores = await factory();
      if (stores.release) releases.push(stores.release);
      open.push(stores.store);
      const another = stores.another
        ? () => {
            const store = stores.another?.() as RegistryStore;
            open.push(store);
            return store;
          }
        : undefined;
      return { ...(await opened(stores.store)), another };
    };
    const test = (title: string, body: () => Promise<void>) => {
      const skipped = options.skip?.find((s) => s.test === title);
      if (skipped) it.skip(`${title} — skipped: ${skipped.reason}`, body);
      else it(title, body);
    };

    test('starts empty', async () => {
      const { snapshot } = await setup();
      expect(snapshot.instances).toEqual([]);
      expect(Number.isSafeInteger(snapshot.revision)).toBe(true);
      expect(snapshot.epoch).toMatch(/^[\w-]{1,100}$/);
    });

    test('starts a new epoch on new data, and keeps it while open', async () => {
      const first = await setup();
      const second = await setup();
      expect(second.snapshot.epoch).not.toBe(first.snapshot.epoch);
      await first.store.put(testInstance(), 'registered');
      expect((await first.store.snapshot()).epoch).toBe(first.snapshot.epoch);
    });

    test('stores an instance and reads it back unchanged', async () => {
      const { store } = await setup();
      const instance = testInstance({
        instanceId: 'orders-ü:8080@host',
        securePort: 8443,
        version: '1.4.2',
        zone: 'eu-1a',
        metadata: { team: 'checkout', note: 'naïve — ✓' },
        healthCheckUrl: 'http://10.0.0.5:8080/health',
        statusOverride: 'OUT_OF_SERVICE',
        status: 'OUT_OF_SERVICE',
      });
      const change = await store.put(instance, 'registered');
      expect(change).toMatchObject({ type: 'registered', revision: expect.any(Number) });
      expect(change.instance).toEqual({ ...instance, revision: change.revision });
      const snapshot = await store.snapshot();
      expect(snapshot.revision).toBeGreaterThanOrEqual(change.revision);
      expect(snapshot.instances).toEqual([{ ...instance, revision: change.revision }]);
    });

    test('delivers every change to the listener in revision order', async () => {
      const { store, seen } = await setup();
      const a = await store.put(testInstance({ instanceId: 'a' }), 'registered');
      const b = await store.put(testInstance({ instanceId: 'b' }), 'registered');
      const a2 = await store.put(testInstance({ instanceId: 'a', metadata: { v: '2' } }), 'updated');
      const gone = await store.remove('orders', 'b', 'deregistered');
      expect(gone).toBeDefined();
      const changes = await seen(gone?.revision ?? 0);
      expect(changes.map((c) => [c.type, c.instance.instanceId, c.revision])).toEqual([
        ['registered', 'a', a.revision],
        ['registered', 'b', b.revision],
        ['updated', 'a', a2.revision],
        ['deregistered', 'b', gone?.revision],
      ]);
      expect(a.revision < b.revision && b.revision < a2.revision && a2.revision < (gone?.revision ?? 0)).toBe(
        true,
      );
      expect(changes[1]?.instance.metadata).toEqual({});
      expect(changes[2]?.instance.metadata).toEqual({ v: '2' });
    });

    test('removing returns the last state, and nothing for an unknown instance', async () => {
      const { store } = await setup();
      await store.put(testInstance({ metadata: { k: 'v' } }), 'registered');
      const removed = await store.remove('orders', 'orders-1', 'deregistered');
      expect(removed?.type).toBe('deregistered');
      expect(removed?.instance).toMatchObject({
        service: 'orders',
        instanceId: 'orders-1',
        metadata: { k: 'v' },
      });
      expect(await store.remove('orders', 'orders-1', 'deregistered')).toBeUndefined();
      expect(await store.remove('nobody', 'x', 'deregistered')).toBeUndefined();
      expect((await store.snapshot()).instances).toEqual([]);
    });

    test('evicts conditionally: never an instance whose lease is still valid', async () => {
      const { store } = await setup();
      const now = Date.now();
      await store.put(
        testInstance({ lastRenewedAt: now, lease: { renewalIntervalMs: 1_000, durationMs: 3_000 } }),
        'registered',
      );
      expect(await store.remove('orders', 'orders-1', 'evicted', { expiredAt: now + 1_000 })).toBeUndefined();
      await store.renew('orders', 'orders-1', now + 2_000);
      // Expired as of now + 4 s by its registration time, but the renewal at now + 2 s keeps it.
      expect(await store.remove('orders', 'orders-1', 'evicted', { expiredAt: now + 4_000 })).toBeUndefined();
      const evicted = await store.remove('orders', 'orders-1', 'evicted', { expiredAt: now + 5_500 });
      expect(evicted?.type).toBe('evicted');
    });

    test('a renewal of an unknown instance is refused', async () => {
      const { store } = await setup();
      expect(await store.renew('orders', 'nobody', Date.now())).toBe(false);
      await store.put(testInstance(), 'registered');
      expect(await store.renew('orders', 'orders-1', Date.now())).toBe(true);
    });

    test('renewals are not changes', async () => {
      const { store, changes } = await setup();
      const put = await store.put(testInstance(), 'registered');
      await store.renew('orders', 'orders-1', Date.now() + 10);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(changes().map((c) => c.revision)).toEqual([put.revision]);
    });

    test('hands a resuming watcher exactly the changes after its revision', async () => {
      const { store, seen } = await setup();
      const first = await store.put(testInstance({ instanceId: 'a' }), 'registered');
      const second = await store.put(testInstance({ instanceId: 'b' }), 'registered');
      const third = await store.remove('orders', 'a', 'deregistered');
      await seen(third?.revision ?? 0);
      const since = await store.changesSince(first.revision);
      expect(since?.map((c) => [c.type, c.instance.instanceId, c.revision])).toEqual([
        ['registered', 'b', second.revision],
        ['deregistered', 'a', third?.revision],
      ]);
      expect(await store.changesSince(third?.revision ?? 0)).toEqual([]);
    });

    test('answers "gone" for a revision it cannot account for', async () => {
      const { store } = await setup();
      const put = await store.put(testInstance(), 'registered');
      expect(await store.changesSince(put.revision + 1_000_000)).toBeUndefined();
    });

    test('carries changes bigger than a notification', async () => {
      const { store, seen } = await setup();
      const metadata: Record<string, string> = {};
      for (let i = 0; i < 12; i++) metadata[`key-${i}`] = 'x'.repeat(1_000);
      const put = await store.put(testInstance({ metadata }), 'registered');
      const changes = await seen(put.revision);
      expect(changes.at(-1)?.instance.metadata).toEqual(metadata);
    });

    test('a second process sharing the store sees the changes of the first, in order', async () => {
      const { store, another } = await setup();
      if (!store.capabilities.shared || !another) return;
      const peer = await opened(another());
      expect(peer.snapshot.epoch).toBe((await store.snapshot()).epoch);
      const a = await store.put(testInstance({ instanceId: 'a' }), 'registered');
      const b = await peer.store.put(testInstance({ instanceId: 'b' }), 'registered');
      const gone = await store.remove('orders', 'a', 'deregistered');
      const seenByPeer = await peer.seen(gone?.revision ?? 0);
      expect(seenByPeer.map((c) => [c.type, c.instance.instanceId, c.revision])).toEqual([
        ['registered', 'a', a.revision],
        ['registered', 'b', b.revision],
        ['deregistered', 'a', gone?.revision],
      ]);
    });

    test('exactly one process sharing the store leads', async () => {
      const { store, another } = await setup();
      if (!store.capabilities.shared || !another) {
        expect(await store.isLeader()).toBe(true);
        return;
      }
      const peer = await opened(another());
      const leaders = [await store.isLeader(), await peer.store.isLeader()];
      expect(leaders.filter(Boolean)).toHaveLength(1);
      // Leadership is stable from pass to pass.
      expect([await store.isLeader(), await peer.store.isLeader()]).toEqual(leaders);
    });

    test('keeps instances, revisions and the epoch across a restart', async () => {
      const { store, snapshot, another } = await setup();
      if (!store.capabilities.durable || !another) return;
      const put = await store.put(testInstance({ metadata: { kept: 'yes' } }), 'registered');
      await store.close();
      const reopened = await opened(another());
      // Same history: a watcher's resume id from before the restart stays meaningful.
      expect(reopened.snapshot.epoch).toBe(snapshot.epoch);
      expect(reopened.snapshot.revision).toBeGreaterThanOrEqual(put.revision);
      expect(reopened.snapshot.instances.map((i) => [i.instanceId, i.metadata])).toEqual([
        ['orders-1', { kept: 'yes' }],
      ]);
      const next = await reopened.store.put(testInstance({ instanceId: 'orders-2' }), 'registered');
      expect(next.revision).toBeGreaterThan(put.revision);
    });
  });
}

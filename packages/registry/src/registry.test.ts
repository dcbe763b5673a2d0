import { hasErrorCode, ManualClock } from '@flotilla/core';
import { afterEach, describe, expect, it } from 'vitest';
import { captureLogger } from './fixtures/helpers.js';
import type { RegistrationInput } from './registry.js';
import { Registry, type RegistryEvent, type RegistryOptions } from './registry.js';
import { MemoryStore } from './stores/memory-store.js';

const FAST_LEASE = { renewalIntervalMs: 1_000, durationMs: 3_000 };

const running: Registry[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.stop();
});

async function harness(options: Partial<RegistryOptions> = {}) {
  const clock = new ManualClock(1_700_000_000_000);
  const { logger, lines } = captureLogger();
  const registry = new Registry({
    store: new MemoryStore({ clock }),
    clock,
    logger,
    lease: FAST_LEASE,
    selfPreservation: { windowMs: 3_000, minInstances: 10 },
    ...options,
  });
  running.push(registry);
  await registry.start();
  const events: RegistryEvent[] = [];
  registry.subscribe((e) => events.push(e));
  /** Moves time on one second at a time, letting every maintenance pass finish. */
  const advance = async (ms: number, each?: () => Promise<void>) => {
    for (let t = 0; t < ms; t += 1_000) {
      clock.advance(Math.min(1_000, ms - t));
      await registry.maintenance.idle();
      await each?.();
    }
  };
  const register = (id: string, extra: Partial<RegistrationInput> = {}) =>
    registry.register({ service: 'orders', instanceId: id, host: '10.0.0.1', port: 8080, ...extra });
  const renewAll = (ids: string[]) => Promise.all(ids.map((id) => registry.renew('orders', id)));
  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => `orders-${i + from}`);
  return { registry, clock, lines, events, advance, register, renewAll, ids };
}

describe('Registry', () => {
  it('registers an instance and serves it by service, id and summary', async () => {
    const { registry, register } = await harness();
    const { instance, created } = await register('orders-1', {
      zone: 'eu-1a',
      metadata: { team: 'checkout' },
    });
    expect(created).toBe(true);
    expect(instance).toMatchObject({ status: 'UP', reportedStatus: 'UP', lease: FAST_LEASE, revision: 1 });
    expect(registry.get('orders', 'orders-1')?.zone).toBe('eu-1a');
    expect(registry.findById('orders-1')?.service).toBe('orders');
    expect(registry.instances('orders', { metadata: { team: 'checkout' } })).toHaveLength(1);
    expect(registry.instances('orders', { zone: ['us-1a'] })).toHaveLength(0);
    expect(registry.services()).toEqual([{ name: 'orders', instances: 1, statuses: { UP: 1 } }]);
  });

  it('keeps registration time and the operator override across re-registration; an identical one is a renewal', async () => {
    const { registry, register, clock, events } = await harness();
    const first = await register('orders-1');
    await registry.setStatusOverride('orders', 'orders-1', 'OUT_OF_SERVICE');
    clock.advance(500);
    const again = await register('orders-1', { version: '2.0.0' });
    expect(again.created).toBe(false);
    expect(again.instance).toMatchObject({
      registeredAt: first.instance.registeredAt,
      statusOverride: 'OUT_OF_SERVICE',
      status: 'OUT_OF_SERVICE',
      reportedStatus: 'UP',
      version: '2.0.0',
    });
    const changes = events.length;
    clock.advance(500);
    const same = await register('orders-1', { version: '2.0.0' });
    expect(events).toHaveLength(changes);
    expect(same.instance.revision).toBe(again.instance.revision);
    expect(registry.get('orders', 'orders-1')?.lastRenewedAt).toBe(clock.now());
  });

  it('tells a client renewing an unknown instance to register again', async () => {
    const { registry } = await harness();
    const error = await registry.renew('orders', 'ghost').catch((e: unknown) => e);
    expect(hasErrorCode(error, 'INSTANCE_NOT_REGISTERED')).toBe(true);
    expect((error as { status: number }).status).toBe(404);
  });

  it('derives the effective status from override, health and report', async () => {
    const { registry, register } = await harness();
    await register('orders-1', { status: 'STARTING' });
    expect((await registry.setStatus('orders', 'orders-1', 'UP')).status).toBe('UP');
    expect((await registry.setHealth('orders', 'orders-1', 'DOWN')).status).toBe('DOWN');
    expect((await registry.setStatusOverride('orders', 'orders-1', 'UP')).status).toBe('UP');
    expect((await registry.setStatusOverride('orders', 'orders-1', undefined)).status).toBe('DOWN');
    const patched = await registry.updateMetadata('orders', 'orders-1', { a: '1', b: '2' });
    expect((await registry.updateMetadata('orders', 'orders-1', { a: null })).metadata).toEqual({ b: '2' });
    expect(patched.revision).toBeGreaterThan(1);
  });

  it('evicts an instance whose lease expired, and tells subscribers', async () => {
    const { registry, register, advance, events } = await harness();
    await register('orders-1');
    await advance(3_000);
    expect(registry.get('orders', 'orders-1')).toBeDefined();
    await advance(1_000);
    expect(registry.get('orders', 'orders-1')).toBeUndefined();
    const evicted = events.find((e) => e.type === 'change' && e.change.type === 'evicted');
    expect(evicted).toBeDefined();
  });

  it('keeps an instance that renews', async () => {
    const { registry, register, advance } = await harness();
    await register('orders-1');
    await advance(10_000, async () => {
      await registry.renew('orders', 'orders-1');
    });
    expect(registry.get('orders', 'orders-1')).toBeDefined();
  });

  it('never evicts more than the per-pass fraction', async () => {
    const { registry, register, ids, advance } = await harness({ selfPreservation: { enabled: false } });
    for (const id of ids(20)) await register(id);
    await advance(4_000);
    // 15 % of 20 per pass: the first expired pass takes 3, then 3 more each second.
    expect(registry.view.size).toBe(17);
    const result = await registry.maintenance.pass();
    expect(result.evicted).toBe(2);
  });

  describe('self-preservation', () => {
    it('stops evicting when renewals of most instances stop at once, says so, and recovers when they return', async () => {
      const { registry, register, ids, renewAll, advance, lines, events } = await harness();
      const all = ids(20);
      for (const id of all) await register(id);
      await advance(6_000, () => renewAll(all).then(() => {}));
      expect(registry.selfPreservation.engaged).toBe(false);

      // The registry is cut off from 16 of 20 instances at once.
      const reachable = all.slice(0, 4);
      await advance(10_000, () => renewAll(reachable).then(() => {}));
      expect(registry.view.size).toBe(20);
      expect(registry.selfPreservation).toMatchObject({ engaged: true, preserving: true });
      expect(registry.selfPreservation.ratio).toBeLessThan(0.85);
      expect(
        lines.some((l) => l.level === 'error' && String(l.msg).startsWith('SELF-PRESERVATION ENGAGED')),
      ).toBe(true);
      expect(events.some((e) => e.type === 'self-preservation' && e.status.engaged)).toBe(true);

      // The partition heals: renewals return, self-preservation releases by itself.
      await advance(5_000, () => renewAll(all).then(() => {}));
      expect(registry.selfPreservation.engaged).toBe(false);
      expect(registry.view.size).toBe(20);
      expect(events.some((e) => e.type === 'self-preservation' && !e.status.engaged)).toBe(true);
      expect(lines.some((l) => String(l.msg).startsWith('self-preservation released'))).toBe(true);
    });

    it('keeps holding while most instances stay silent', async () => {
      const { registry, register, ids, renewAll, advance } = await harness();
      const all = ids(20);
      for (const id of all) await register(id);
      await advance(6_000, () => renewAll(all).then(() => {}));
      await advance(6_000, () => renewAll(all.slice(0, 4)).then(() => {}));
      expect(registry.view.size).toBe(20);
      // It cannot tell a partition from 16 deaths, so it holds; maxDurationMs bounds that (below).
      expect(registry.selfPreservation.preserving).toBe(true);
    });

    it('resumes bounded eviction after maxDurationMs', async () => {
      const { registry, register, ids, renewAll, advance } = await harness({
        selfPreservation: { windowMs: 3_000, minInstances: 10, maxDurationMs: 5_000 },
      });
      const all = ids(20);
      for (const id of all) await register(id);
      await advance(6_000, () => renewAll(all).then(() => {}));
      const alive = all.slice(0, 4);
      await advance(4_000, () => renewAll(alive).then(() => {}));
      expect(registry.view.size).toBe(20);
      await advance(25_000, () => renewAll(alive).then(() => {}));
      // The 16 silent ones are evicted, at most 15 % per pass; the four renewing ones stay.
      expect(registry.view.size).toBe(4);
      expect(registry.instances('orders').map((i) => i.instanceId)).toEqual(alive);
    });

    it('evicts a few dead instances normally: that is not a partition', async () => {
      const { registry, register, ids, renewAll, advance } = await harness();
      const all = ids(20);
      for (const id of all) await register(id);
      await advance(6_000, () => renewAll(all).then(() => {}));
      const alive = all.slice(2);
      await advance(6_000, () => renewAll(alive).then(() => {}));
      expect(registry.selfPreservation.engaged).toBe(false);
      expect(registry.view.size).toBe(18);
    });

    it('does not mistake a burst of new registrations for missing renewals', async () => {
      const { registry, register, ids, renewAll, advance } = await harness();
      const all = ids(50);
      for (const id of all) await register(id);
      for (let i = 0; i < 4; i++) {
        await advance(1_000, () => renewAll(all).then(() => {}));
        expect(registry.selfPreservation.engaged).toBe(false);
      }
    });
  });
});

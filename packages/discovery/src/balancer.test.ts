import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { Balancer, type InstanceSource } from './balancer.js';
import { instance, instances, tally } from './fixtures/instances.js';
import type { Instance, ServiceChange } from './model.js';
import { LeastOutstanding } from './strategies/least-outstanding.js';

class FakeSource implements InstanceSource {
  private readonly listeners = new Set<(c: ServiceChange) => void>();
  constructor(public list: readonly Instance[]) {}
  instances(service: string): readonly Instance[] {
    return service === 'orders' ? this.list : [];
  }
  on(_event: 'change', listener: (c: ServiceChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  remove(id: string): void {
    const gone = this.list.filter((i) => i.instanceId === id);
    this.list = this.list.filter((i) => i.instanceId !== id);
    for (const l of this.listeners) {
      l({
        service: 'orders',
        reason: 'deregistered',
        added: [],
        updated: [],
        removed: gone,
        instances: this.list,
        revision: 2,
      });
    }
  }
}

const boom = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('Balancer', () => {
  it('picks with the configured strategy among UP instances', () => {
    const balancer = new Balancer({ source: new FakeSource(instances(3)) });
    expect(Array.from({ length: 4 }, () => balancer.pick('orders')?.instanceId)).toEqual([
      'i0',
      'i1',
      'i2',
      'i0',
    ]);
    expect(balancer.pick('users')).toBeUndefined();
  });

  it('ejects an instance that keeps failing and brings it back after the interval', async () => {
    const clock = new ManualClock(0);
    const source = new FakeSource(instances(3));
    const balancer = new Balancer({
      source,
      clock,
      ejection: { consecutiveFailures: 2, baseEjectionMs: 1_000, maxEjectionPercent: 50 },
    });
    const call = (fails: string) =>
      balancer
        .call('orders', (i) => {
          if (i.instanceId === fails) throw boom;
          return 'ok';
        })
        .catch((e: unknown) => e);
    for (let n = 0; n < 6; n++) await call('i1');
    expect(balancer.detectorFor('orders')?.isEjected('i1')).toBe(true);
    expect(tally(Array.from({ length: 10 }, () => balancer.pick('orders'))).has('i1')).toBe(false);
    clock.advance(1_000);
    expect(tally(Array.from({ length: 10 }, () => balancer.pick('orders'))).has('i1')).toBe(true);
  });

  it('counts 5xx responses as failures and 4xx answers and caller aborts as not', async () => {
    const source = new FakeSource(instances(2));
    const balancer = new Balancer({ source, ejection: { consecutiveFailures: 1, maxEjectionPercent: 50 } });
    const detector = () => balancer.detectorFor('orders')!;
    await balancer.call('orders', () => ({ status: 404 }));
    await balancer
      .call('orders', () => Promise.reject(Object.assign(new Error('bad'), { status: 400 })))
      .catch(() => {});
    await balancer
      .call('orders', () => Promise.reject(new DOMException('aborted', 'AbortError')))
      .catch(() => {});
    expect(detector().ejectedCount).toBe(0);
    const response = await balancer.call('orders', () => ({ status: 503 }));
    expect(response.status).toBe(503);
    expect(detector().ejectedCount).toBe(1);
  });

  it('falls back to every instance when all are ejected (panic mode)', async () => {
    const source = new FakeSource(instances(1));
    const balancer = new Balancer({ source, ejection: { consecutiveFailures: 1 } });
    await balancer.call('orders', () => Promise.reject(boom)).catch(() => {});
    expect(balancer.detectorFor('orders')?.isEjected('i0')).toBe(true);
    expect(balancer.pick('orders')?.instanceId).toBe('i0');
    // A success on the ejected instance brings it back at once.
    await balancer.call('orders', () => 'ok');
    expect(balancer.detectorFor('orders')?.isEjected('i0')).toBe(false);
  });

  it('avoids excluded instances, unless that would leave none', async () => {
    const balancer = new Balancer({
      source: new FakeSource(instances(3)),
      strategy: 'random',
      random: () => 0,
    });
    const picked = async (exclude: string[]) =>
      balancer.call('orders', (i) => i.instanceId, { exclude: new Set(exclude) });
    expect(await picked([])).toBe('i0');
    expect(await picked(['i0'])).toBe('i1');
    expect(await picked(['i0', 'i1'])).toBe('i2');
    expect(await picked(['i0', 'i1', 'i2'])).toBe('i0');
  });

  it('throws NoInstanceAvailableError when a service has no instance', async () => {
    const balancer = new Balancer({ source: new FakeSource([]) });
    await expect(balancer.call('orders', () => 'x')).rejects.toMatchObject({
      code: 'NO_INSTANCE_AVAILABLE',
      status: 503,
    });
  });

  it('feeds the strategy outcomes and forgets instances that leave', async () => {
    const source = new FakeSource(instances(2));
    const balancer = new Balancer({ source, strategy: () => new LeastOutstanding() });
    const strategy = balancer.strategyFor('orders') as LeastOutstanding;
    let release = () => {};
    const pending = balancer.call(
      'orders',
      (i) => new Promise<string>((r) => (release = () => r(i.instanceId))),
    );
    expect(strategy.outstanding('i0') + strategy.outstanding('i1')).toBe(1);
    release();
    await pending;
    expect(strategy.outstanding('i0') + strategy.outstanding('i1')).toBe(0);
    strategy.onStart(source.list[0]!);
    source.remove('i0');
    expect(strategy.outstanding('i0')).toBe(0);
  });

  it('start and finish split a call for callers that run it by callbacks', () => {
    const source = new FakeSource(instances(2));
    const balancer = new Balancer({
      source,
      strategy: () => new LeastOutstanding(),
      ejection: { consecutiveFailures: 1, maxEjectionPercent: 50 },
    });
    const strategy = balancer.strategyFor('orders') as LeastOutstanding;
    const detector = balancer.detectorFor('orders')!;
    const first = balancer.start('orders');
    // Counted in flight until finished; a second pick goes to the idle instance.
    expect(strategy.outstanding(first.instance.instanceId)).toBe(1);
    const second = balancer.start('orders', { exclude: new Set() });
    expect(second.instance.instanceId).not.toBe(first.instance.instanceId);
    // An aborted call is neither a success nor a failure; a failed one ejects (1 of 2 UP).
    balancer.finish(first, undefined);
    expect(strategy.outstanding(first.instance.instanceId)).toBe(0);
    expect(detector.ejectedCount).toBe(0);
    balancer.finish(second, false);
    expect(strategy.outstanding(second.instance.instanceId)).toBe(0);
    expect(detector.isEjected(second.instance.instanceId)).toBe(true);
    // Finishing a pick again records nothing more.
    balancer.finish(first, undefined);
    expect(strategy.outstanding(first.instance.instanceId)).toBe(0);
    // An exclusion that would leave none is ignored; a service without instances throws.
    expect(balancer.start('orders', { exclude: new Set(['i0', 'i1']) }).instance).toBeDefined();
    expect(() => balancer.start('users')).toThrow(expect.objectContaining({ code: 'NO_INSTANCE_AVAILABLE' }));
  });

  it('prefers the own zone when asked', () => {
    const source = new FakeSource([
      instance('a1', { zone: 'a' }),
      instance('a2', { zone: 'a' }),
      instance('b1', { zone: 'b' }),
    ]);
    const balancer = new Balancer({ source, zone: 'a' });
    expect(new Set(Array.from({ length: 6 }, () => balancer.pick('orders')?.zone))).toEqual(new Set(['a']));
    expect(balancer.strategyFor('orders').name).toBe('zone-preference(round-robin)');
  });

  it('refuses an unknown strategy name', () => {
    expect(() => new Balancer({ source: new FakeSource([]), strategy: 'fastest' as 'random' })).toThrow(
      'got "fastest"',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { InstanceCache } from './cache.js';
import { instance } from './fixtures/instances.js';
import type { ServiceChange } from './model.js';

describe('InstanceCache', () => {
  it('replaces its copy with a snapshot and reports what changed per service', () => {
    const changes: ServiceChange[] = [];
    const cache = new InstanceCache((c) => changes.push(c));
    cache.applySnapshot(5, [instance('b'), instance('a'), instance('x', { service: 'users' })]);
    expect(cache.instances('orders').map((i) => i.instanceId)).toEqual(['a', 'b']);
    expect(changes.map((c) => [c.service, c.added.length])).toEqual([
      ['orders', 2],
      ['users', 1],
    ]);
    changes.length = 0;
    cache.applySnapshot(9, [instance('a'), instance('c', { revision: 8 })]);
    expect(cache.revision).toBe(9);
    expect(cache.serviceNames()).toEqual(['orders']);
    const orders = changes.find((c) => c.service === 'orders');
    expect(orders?.added.map((i) => i.instanceId)).toEqual(['c']);
    expect(orders?.removed.map((i) => i.instanceId)).toEqual(['b']);
    expect(changes.find((c) => c.service === 'users')?.removed.map((i) => i.instanceId)).toEqual(['x']);
  });

  it('applies changes by swapping in new frozen arrays, leaving ones already handed out intact', () => {
    const cache = new InstanceCache();
    cache.applySnapshot(1, [instance('a')]);
    const before = cache.instances('orders');
    cache.applyChange(2, 'registered', instance('b', { revision: 2 }));
    expect(before.map((i) => i.instanceId)).toEqual(['a']);
    expect(Object.isFrozen(cache.instances('orders'))).toBe(true);
    expect(cache.instances('orders').map((i) => i.instanceId)).toEqual(['a', 'b']);
    cache.applyChange(3, 'evicted', instance('a', { revision: 3 }));
    expect(cache.instances('orders').map((i) => i.instanceId)).toEqual(['b']);
  });

  it('serves only UP instances by default and filters on request', () => {
    const cache = new InstanceCache();
    cache.applySnapshot(1, [
      instance('a', { zone: 'z1', version: '1' }),
      instance('b', { status: 'DOWN', zone: 'z1' }),
      instance('c', { zone: 'z2', metadata: { canary: 'yes' } }),
    ]);
    const ids = (list: readonly { instanceId: string }[]) => list.map((i) => i.instanceId);
    expect(ids(cache.instances('orders'))).toEqual(['a', 'c']);
    expect(cache.instances('orders')).toBe(cache.instances('orders'));
    expect(ids(cache.instances('orders', { status: 'any', zone: 'z1' }))).toEqual(['a', 'b']);
    expect(ids(cache.instances('orders', { version: '1' }))).toEqual(['a']);
    expect(ids(cache.instances('orders', { metadata: { canary: 'yes' } }))).toEqual(['c']);
    expect(cache.instances('nothing')).toEqual([]);
  });

  it('moves an instance out of the UP list when an update marks it DOWN', () => {
    const changes: ServiceChange[] = [];
    const cache = new InstanceCache((c) => changes.push(c));
    cache.applySnapshot(1, [instance('a'), instance('b')]);
    cache.applyChange(2, 'updated', instance('a', { status: 'OUT_OF_SERVICE', revision: 2 }));
    expect(cache.instances('orders').map((i) => i.instanceId)).toEqual(['b']);
    expect(changes.at(-1)?.updated.map((i) => i.status)).toEqual(['OUT_OF_SERVICE']);
  });
});

import { describe, expect, it } from 'vitest';
import { instance, instances, tally } from '../fixtures/instances.js';
import { ConsistentHash } from './consistent-hash.js';

const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);

function assign(list: ReturnType<typeof instances>) {
  const ring = new ConsistentHash();
  return new Map(keys.map((key) => [key, ring.pick(list, { key })?.instanceId]));
}

describe('ConsistentHash', () => {
  it('sends a key to the same instance every time', () => {
    const list = instances(5);
    const ring = new ConsistentHash();
    const first = ring.pick(list, { key: 'cart-42' });
    for (let i = 0; i < 100; i++) expect(ring.pick(list, { key: 'cart-42' })).toBe(first);
  });

  it('spreads keys about evenly over the instances', () => {
    const list = instances(10);
    const ring = new ConsistentHash();
    const counts = tally(keys.map((key) => ring.pick(list, { key })));
    expect(counts.size).toBe(10);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(1_400);
      expect(n).toBeLessThan(2_600);
    }
  });

  it('moves only the keys of a new instance when one joins (about 1/n)', () => {
    const before = assign(instances(10));
    const after = assign([...instances(10), instance('i10')]);
    let moved = 0;
    for (const [key, owner] of after) {
      if (owner === before.get(key)) continue;
      moved++;
      expect(owner).toBe('i10');
    }
    expect(moved / keys.length).toBeGreaterThan(0.05);
    expect(moved / keys.length).toBeLessThan(0.14);
  });

  it('moves only the keys of an instance that leaves', () => {
    const list = instances(10);
    const before = assign(list);
    const after = assign(list.filter((i) => i.instanceId !== 'i3'));
    for (const [key, owner] of after) {
      if (before.get(key) !== 'i3') expect(owner).toBe(before.get(key));
      else expect(owner).not.toBe('i3');
    }
  });

  it('does not depend on the order of the instances', () => {
    const list = instances(6);
    const ring = new ConsistentHash();
    const reversed = new ConsistentHash();
    const backwards = [...list].reverse();
    for (const key of keys.slice(0, 500)) {
      expect(ring.pick(list, { key })?.instanceId).toBe(reversed.pick(backwards, { key })?.instanceId);
    }
  });

  it('picks at random without a key and refuses a bad virtual node count', () => {
    const list = instances(3);
    const ring = new ConsistentHash({ random: () => 0.99 });
    expect(ring.pick(list)).toBe(list[2]);
    expect(() => new ConsistentHash({ virtualNodes: 0 })).toThrow(
      'virtualNodes should be an integer ≥ 1, got 0',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { instances } from '../fixtures/instances.js';
import { RoundRobin } from './round-robin.js';

describe('RoundRobin', () => {
  it('visits every instance in turn', () => {
    const list = instances(3);
    const rr = new RoundRobin();
    expect(Array.from({ length: 7 }, () => rr.pick(list)?.instanceId)).toEqual([
      'i0',
      'i1',
      'i2',
      'i0',
      'i1',
      'i2',
      'i0',
    ]);
  });

  it('stays in range when the list shrinks, and gives nothing for an empty list', () => {
    const rr = new RoundRobin();
    const five = instances(5);
    for (let i = 0; i < 4; i++) rr.pick(five);
    expect(rr.pick(instances(2))?.instanceId).toBe('i0');
    expect(rr.pick([])).toBeUndefined();
  });
});

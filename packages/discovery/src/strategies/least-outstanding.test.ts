import { describe, expect, it } from 'vitest';
import { instances, tally } from '../fixtures/instances.js';
import { LeastOutstanding } from './least-outstanding.js';

describe('LeastOutstanding', () => {
  it('sends a call to the instance with the fewest calls in flight', () => {
    const list = instances(3);
    const [a, b, c] = list;
    const lor = new LeastOutstanding();
    lor.onStart(a!);
    lor.onStart(a!);
    lor.onStart(b!);
    expect(lor.pick(list)).toBe(c);
    lor.onStart(c!);
    lor.onStart(c!);
    expect(lor.pick(list)).toBe(b);
    lor.onEnd(a!);
    lor.onEnd(a!);
    expect(lor.pick(list)).toBe(a);
  });

  it('shares the load between idle instances instead of always taking the first', () => {
    const list = instances(4);
    const lor = new LeastOutstanding();
    const counts = tally(Array.from({ length: 400 }, () => lor.pick(list)));
    expect([...counts.values()]).toEqual([100, 100, 100, 100]);
  });

  it('keeps the in-flight counts right when calls overlap, and forgets removed instances', () => {
    const list = instances(2);
    const lor = new LeastOutstanding();
    const held = Array.from({ length: 10 }, () => {
      const picked = lor.pick(list)!;
      lor.onStart(picked);
      return picked;
    });
    expect(lor.outstanding('i0')).toBe(5);
    expect(lor.outstanding('i1')).toBe(5);
    for (const p of held) lor.onEnd(p);
    expect(lor.outstanding('i0')).toBe(0);
    lor.onStart(list[0]!);
    lor.onRemove('i0');
    expect(lor.outstanding('i0')).toBe(0);
  });
});

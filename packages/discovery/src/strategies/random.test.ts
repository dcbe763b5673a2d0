import { describe, expect, it } from 'vitest';
import { instances, seeded, tally } from '../fixtures/instances.js';
import { RandomStrategy } from './random.js';

describe('RandomStrategy', () => {
  it('spreads picks evenly', () => {
    const list = instances(4);
    const strategy = new RandomStrategy(seeded(7));
    const counts = tally(Array.from({ length: 40_000 }, () => strategy.pick(list)));
    expect(counts.size).toBe(4);
    for (const n of counts.values()) {
      expect(n).toBeGreaterThan(9_000);
      expect(n).toBeLessThan(11_000);
    }
  });

  it('gives nothing for an empty list', () => {
    expect(new RandomStrategy().pick([])).toBeUndefined();
  });
});

import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { OutlierDetector } from './outlier-ejection.js';

function detector(clock: ManualClock, options = {}) {
  return new OutlierDetector({
    clock,
    consecutiveFailures: 3,
    baseEjectionMs: 1_000,
    maxEjectionMs: 5_000,
    ...options,
  });
}

function fail(d: OutlierDetector, id: string, times: number, total = 10): boolean {
  let ejected = false;
  for (let i = 0; i < times; i++) ejected = d.recordFailure(id, total) || ejected;
  return ejected;
}

describe('OutlierDetector', () => {
  it('ejects an instance after N consecutive failures, not after N failures with a success between', () => {
    const d = detector(new ManualClock(0));
    expect(fail(d, 'a', 2)).toBe(false);
    d.recordSuccess('a');
    expect(fail(d, 'a', 2)).toBe(false);
    expect(d.isEjected('a')).toBe(false);
    expect(fail(d, 'a', 1)).toBe(true);
    expect(d.isEjected('a')).toBe(true);
    expect(d.ejectedCount).toBe(1);
  });

  it('brings it back when the ejection time is up', () => {
    const clock = new ManualClock(0);
    const d = detector(clock);
    fail(d, 'a', 3);
    clock.advance(999);
    expect(d.isEjected('a')).toBe(true);
    clock.advance(1);
    expect(d.isEjected('a')).toBe(false);
    expect(d.ejectedCount).toBe(0);
  });

  it('brings it back at once on a success', () => {
    const d = detector(new ManualClock(0));
    fail(d, 'a', 3);
    d.recordSuccess('a');
    expect(d.isEjected('a')).toBe(false);
    expect(d.ejectedCount).toBe(0);
  });

  it('doubles the ejection time for a repeat offender, up to the cap', () => {
    const clock = new ManualClock(0);
    const d = detector(clock);
    const lengths: number[] = [];
    for (let round = 0; round < 5; round++) {
      fail(d, 'a', 3);
      lengths.push(d.remainingMs('a'));
      clock.advance(d.remainingMs('a'));
      expect(d.isEjected('a')).toBe(false);
    }
    expect(lengths).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
  });

  it('forgets past ejections while the instance behaves (one level per base interval)', () => {
    const clock = new ManualClock(0);
    const d = detector(clock);
    fail(d, 'a', 3);
    clock.advance(1_000);
    fail(d, 'a', 3);
    expect(d.remainingMs('a')).toBe(2_000);
    clock.advance(2_000); // back now, at level 2
    clock.advance(1_000); // one interval in rotation: level 1
    fail(d, 'a', 3);
    expect(d.remainingMs('a')).toBe(2_000);
    clock.advance(2_000);
    clock.advance(10_000); // long good behaviour: level 0
    fail(d, 'a', 3);
    expect(d.remainingMs('a')).toBe(1_000);
  });

  it('never ejects more than the max percentage, but always allows one', () => {
    const d = detector(new ManualClock(0), { maxEjectionPercent: 20 });
    expect(fail(d, 'a', 3, 10)).toBe(true);
    expect(fail(d, 'b', 3, 10)).toBe(true);
    expect(fail(d, 'c', 3, 10)).toBe(false);
    expect(d.ejectedCount).toBe(2);
    const small = detector(new ManualClock(0), { maxEjectionPercent: 10 });
    expect(fail(small, 'a', 3, 2)).toBe(true);
    expect(fail(small, 'b', 3, 2)).toBe(false);
  });

  it('forgets an instance that left, freeing its ejection slot', () => {
    const d = detector(new ManualClock(0));
    fail(d, 'a', 3, 2);
    d.forget('a');
    expect(d.ejectedCount).toBe(0);
    expect(fail(d, 'b', 3, 2)).toBe(true);
  });

  it('refuses bad settings, naming the field and the value', () => {
    expect(() => new OutlierDetector({ consecutiveFailures: 0 })).toThrow(
      'Outlier ejection consecutiveFailures should be in [1, Infinity], got 0',
    );
    expect(() => new OutlierDetector({ maxEjectionPercent: 150 })).toThrow('maxEjectionPercent');
  });
});

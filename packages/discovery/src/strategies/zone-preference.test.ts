import { describe, expect, it } from 'vitest';
import { instance, tally } from '../fixtures/instances.js';
import { RoundRobin } from './round-robin.js';
import { ZonePreference } from './zone-preference.js';

const a1 = instance('a1', { zone: 'a' });
const a2 = instance('a2', { zone: 'a' });
const b1 = instance('b1', { zone: 'b' });
const b2 = instance('b2', { zone: 'b' });

describe('ZonePreference', () => {
  it('keeps calls in the own zone while it has enough instances', () => {
    const zone = new ZonePreference(new RoundRobin(), { zone: 'a' });
    const counts = tally(Array.from({ length: 10 }, () => zone.pick([a1, a2, b1, b2])));
    expect(Object.fromEntries(counts)).toEqual({ a1: 5, a2: 5 });
  });

  it('spills over to every zone when the own zone has too few instances', () => {
    const zone = new ZonePreference(new RoundRobin(), { zone: 'a', minInstances: 2 });
    const counts = tally(Array.from({ length: 9 }, () => zone.pick([a1, b1, b2])));
    expect(Object.fromEntries(counts)).toEqual({ a1: 3, b1: 3, b2: 3 });
  });

  it("lets a pick's zone override the configured one, and uses every zone without any", () => {
    const zone = new ZonePreference(new RoundRobin());
    expect(zone.pick([a1, a2, b1, b2], { zone: 'b' })?.zone).toBe('b');
    expect(zone.candidates([a1, b1], undefined)).toEqual([a1, b1]);
  });

  it('reuses the zone subset while the instance list is unchanged', () => {
    const zone = new ZonePreference(new RoundRobin(), { zone: 'a' });
    const list = [a1, a2, b1];
    expect(zone.candidates(list, 'a')).toBe(zone.candidates(list, 'a'));
  });
});

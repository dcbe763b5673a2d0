import { ManualClock } from '@flotilla/core';
import { describe, expect, it } from 'vitest';
import { instances, seeded, tally } from '../fixtures/instances.js';
import { P2cEwma } from './p2c-ewma.js';

describe('P2cEwma', () => {
  it('steers most calls away from a slow instance but never starves it completely', () => {
    const clock = new ManualClock(1_000);
    const list = instances(4);
    const p2c = new P2cEwma({ clock, random: seeded(3) });
    for (const i of list) {
      p2c.onStart(i);
      p2c.onEnd(i, { ok: true, latencyMs: i.instanceId === 'i0' ? 200 : 10 });
    }
    const counts = tally(Array.from({ length: 10_000 }, () => p2c.pick(list)));
    // i0 only wins when both random choices are i0, which p2c never draws: it gets nothing
    // while the others stay fast, and the three fast ones share evenly.
    expect(counts.get('i0') ?? 0).toBe(0);
    for (const id of ['i1', 'i2', 'i3']) expect(counts.get(id)).toBeGreaterThan(3_000);
  });

  it('reacts to a latency peak at once and forgives it gradually', () => {
    const clock = new ManualClock(1_000);
    const [a] = instances(1);
    const p2c = new P2cEwma({ clock, decayMs: 10_000 });
    p2c.onEnd(a!, { ok: true, latencyMs: 10 });
    p2c.onEnd(a!, { ok: true, latencyMs: 500 });
    expect(p2c.cost('i0')).toBe(500);
    clock.advance(10_000);
    p2c.onEnd(a!, { ok: true, latencyMs: 10 });
    // One time constant later, a fast sample takes 1 - 1/e of the weight.
    expect(p2c.cost('i0')).toBeCloseTo(500 / Math.E + 10 * (1 - 1 / Math.E), 5);
  });

  it('counts calls in flight: a busy instance costs more than an idle one of the same latency', () => {
    const clock = new ManualClock(1_000);
    const list = instances(2);
    const p2c = new P2cEwma({ clock, random: seeded(1) });
    for (const i of list) p2c.onEnd(i, { ok: true, latencyMs: 20 });
    p2c.onStart(list[0]!);
    p2c.onStart(list[0]!);
    expect(p2c.cost('i0')).toBe(60);
    expect(p2c.pick(list)).toBe(list[1]);
  });

  it('handles one and zero instances', () => {
    const p2c = new P2cEwma();
    const one = instances(1);
    expect(p2c.pick(one)).toBe(one[0]);
    expect(p2c.pick([])).toBeUndefined();
  });
});

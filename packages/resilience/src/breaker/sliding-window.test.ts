import { describe, expect, it } from 'vitest';
import { seeded } from '../fixtures/helpers.js';
import { CountWindow } from './count-window.js';
import { TimeWindow } from './time-window.js';

interface Outcome {
  at: number;
  failed: boolean;
  slow: boolean;
}

function totals(list: readonly Outcome[]) {
  return {
    calls: list.length,
    failures: list.filter((o) => o.failed).length,
    slowCalls: list.filter((o) => o.slow).length,
  };
}

function view(w: { calls: number; failures: number; slowCalls: number }) {
  return { calls: w.calls, failures: w.failures, slowCalls: w.slowCalls };
}

describe('CountWindow', () => {
  it('matches a brute-force model of "the last N outcomes" over random sequences', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seeded(seed);
      const size = 1 + Math.floor(random() * 20);
      const w = new CountWindow(size);
      const all: Outcome[] = [];
      for (let i = 0; i < 500; i++) {
        const o = { at: i, failed: random() < 0.4, slow: random() < 0.3 };
        all.push(o);
        w.record(o.at, o.failed, o.slow);
        expect(view(w), `seed ${seed}, call ${i}`).toEqual(totals(all.slice(-size)));
      }
      w.reset();
      expect(view(w)).toEqual({ calls: 0, failures: 0, slowCalls: 0 });
    }
  });
});

describe('TimeWindow', () => {
  it('matches a brute-force model of "outcomes in the last N buckets" over random sequences', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const random = seeded(seed);
      const bucketMs = 1000;
      const buckets = 1 + Math.floor(random() * 10);
      const w = new TimeWindow(buckets * bucketMs, bucketMs);
      const all: Outcome[] = [];
      let now = Math.floor(random() * 5000);
      for (let i = 0; i < 400; i++) {
        // Mostly small steps, sometimes long idle gaps that empty the window.
        const r = random();
        now += r < 0.05 ? Math.floor(random() * 30_000) : Math.floor(random() * 700);
        const o = { at: now, failed: random() < 0.5, slow: random() < 0.2 };
        all.push(o);
        w.record(o.at, o.failed, o.slow);
        const epoch = Math.floor(now / bucketMs);
        const inWindow = all.filter((x) => Math.floor(x.at / bucketMs) > epoch - buckets);
        expect(view(w), `seed ${seed}, call ${i}`).toEqual(totals(inWindow));
        // Reading later, without new calls, drops what expired.
        if (random() < 0.1) {
          const later = now + Math.floor(random() * buckets * bucketMs);
          w.advance(later);
          const e = Math.floor(later / bucketMs);
          expect(view(w)).toEqual(totals(all.filter((x) => Math.floor(x.at / bucketMs) > e - buckets)));
          now = later;
        }
      }
    }
  });

  it('keeps counting in the newest bucket when the clock steps back', () => {
    const w = new TimeWindow(10_000);
    w.record(50_000, true, false);
    w.record(40_000, false, false);
    expect(view(w)).toEqual({ calls: 2, failures: 1, slowCalls: 0 });
  });
});

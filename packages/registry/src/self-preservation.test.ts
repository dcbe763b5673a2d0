import { describe, expect, it } from 'vitest';
import {
  expectedRenewals,
  RenewalMeter,
  resolveSelfPreservation,
  SelfPreservation,
} from './self-preservation.js';

const lease = { renewalIntervalMs: 10_000, durationMs: 30_000 };

describe('expectedRenewals', () => {
  it('expects window / interval from an instance renewing through the whole window', () => {
    expect(expectedRenewals([{ registeredAt: 0, lease }], 60_000, 90_000, 0)).toBe(3);
  });

  it('expects only the renewals a young instance has certainly had time to send', () => {
    // Registered 5 s before the end: its first renewal is not due yet.
    expect(expectedRenewals([{ registeredAt: 85_000, lease }], 60_000, 90_000, 0)).toBe(0);
    // Registered 25 s before the end: renewals due at +10 s and +20 s.
    expect(expectedRenewals([{ registeredAt: 65_000, lease }], 60_000, 90_000, 0)).toBe(2);
  });

  it('counts from when this process started observing, not from registration', () => {
    expect(expectedRenewals([{ registeredAt: 0, lease }], 60_000, 90_000, 85_000)).toBe(0);
  });
});

describe('RenewalMeter', () => {
  it('counts complete one-second buckets in the window and forgets older ones', () => {
    const meter = new RenewalMeter();
    meter.record(500);
    meter.record(1_500, 3);
    meter.record(2_100);
    expect(meter.count(0, 2_000)).toBe(4);
    expect(meter.count(1_000, 3_000)).toBe(4);
    expect(meter.count(0, 3_000)).toBe(4); // bucket 0 was dropped by the previous read
  });
});

describe('SelfPreservation', () => {
  it('engages below the threshold, releases at it, and reports each change once', () => {
    const sp = new SelfPreservation(resolveSelfPreservation());
    expect(sp.evaluate(1_000, 100, 100, 100).changed).toBe(false);
    const engaged = sp.evaluate(2_000, 80, 100, 100);
    expect(engaged).toMatchObject({
      changed: true,
      status: { engaged: true, preserving: true, since: 2_000, ratio: 0.8 },
    });
    expect(sp.evaluate(3_000, 10, 100, 100).changed).toBe(false);
    expect(sp.evaluate(4_000, 85, 100, 100)).toMatchObject({ changed: true, status: { engaged: false } });
  });

  it('never engages for a handful of instances', () => {
    const sp = new SelfPreservation(resolveSelfPreservation({ minInstances: 10 }));
    expect(sp.evaluate(1_000, 0, 27, 9).status.engaged).toBe(false);
    expect(sp.evaluate(1_000, 0, 30, 10).status.engaged).toBe(true);
  });

  it('stops holding back eviction after maxDurationMs, still reporting the low rate', () => {
    const sp = new SelfPreservation(resolveSelfPreservation({ maxDurationMs: 60_000 }));
    sp.evaluate(0, 10, 100, 100);
    expect(sp.evaluate(59_000, 10, 100, 100).status.preserving).toBe(true);
    expect(sp.evaluate(60_000, 10, 100, 100).status).toMatchObject({ engaged: true, preserving: false });
  });

  it('refuses bad options, naming the field and the value', () => {
    expect(() => resolveSelfPreservation({ renewalThreshold: 1.5 })).toThrow(
      'selfPreservation.renewalThreshold should be in (0, 1], got 1.5',
    );
  });
});

import { ConfigurationError } from '@flotilla/core';
import type { Instance } from './model.js';

/**
 * Self-preservation: when renewals across the whole registry fall below a fraction of the
 * expected rate, the registry itself is probably cut off from its instances (a partition, a
 * paused process), not the instances dead, so it stops evicting until renewals return.
 *
 * Eureka's version measures renewals per minute against a threshold it recomputes every 15
 * minutes, and never leaves self-preservation while that threshold is wrong, which can keep dead
 * instances listed indefinitely. Here the expectation is recomputed on every pass from the
 * instances registered now (each one expects `window / renewalInterval` renewals, prorated for
 * instances younger than the window), so it leaves self-preservation as soon as the rate is back,
 * and after `maxDurationMs` it resumes bounded eviction anyway.
 */
export interface SelfPreservationOptions {
  /** Default true. */
  enabled: boolean;
  /** Fraction of the expected renewals below which eviction stops; default 0.85 (Eureka's). */
  renewalThreshold: number;
  /** Window the renewal rate is measured over; default 30 s (one default lease). */
  windowMs: number;
  /**
   * With fewer instances registered, self-preservation never engages; default 10. A handful of
   * instances stopping together is as likely a deploy or a dead rack as a partition, and holding
   * them would keep dead instances listed.
   */
  minInstances: number;
  /** After this long, eviction resumes (bounded per pass); 0 = never; default 5 min. */
  maxDurationMs: number;
}

export const DEFAULT_SELF_PRESERVATION: SelfPreservationOptions = {
  enabled: true,
  renewalThreshold: 0.85,
  windowMs: 30_000,
  minInstances: 10,
  maxDurationMs: 300_000,
};

/** Where self-preservation stands, as the API, the metrics and the logs report it. */
export interface SelfPreservationStatus {
  /** Renewals are below the threshold. */
  engaged: boolean;
  /** Eviction is held back now (engaged, and not past `maxDurationMs`). */
  preserving: boolean;
  /** Unix milliseconds since when it has been engaged. */
  since?: number;
  /** Renewals counted in the last window (all registry processes). */
  renewals: number;
  /** Renewals expected in that window. */
  expected: number;
  /** `renewals / expected` (1 when nothing is expected). */
  ratio: number;
  threshold: number;
}

/** Checks options at start, naming the field and the value. */
export function resolveSelfPreservation(
  options: Partial<SelfPreservationOptions> = {},
): SelfPreservationOptions {
  const out = { ...DEFAULT_SELF_PRESERVATION, ...options };
  const fail = (field: string, rule: string, value: unknown) => {
    throw new ConfigurationError(`selfPreservation.${field} should be ${rule}, got ${String(value)}`, {
      data: { field: `selfPreservation.${field}`, value },
    });
  };
  if (!(out.renewalThreshold > 0 && out.renewalThreshold <= 1))
    fail('renewalThreshold', 'in (0, 1]', out.renewalThreshold);
  if (!(Number.isInteger(out.windowMs) && out.windowMs >= 1_000))
    fail('windowMs', 'an integer ≥ 1000', out.windowMs);
  if (!(Number.isInteger(out.minInstances) && out.minInstances >= 0))
    fail('minInstances', 'an integer ≥ 0', out.minInstances);
  if (!(out.maxDurationMs >= 0)) fail('maxDurationMs', '≥ 0 (0 = unlimited)', out.maxDurationMs);
  return out;
}

/** Renewals counted in one-second buckets, so the rate over the last window is cheap to read. */
export class RenewalMeter {
  private readonly buckets = new Map<number, number>();

  constructor(private readonly bucketMs = 1_000) {}

  record(at: number, count = 1): void {
    const bucket = Math.floor(at / this.bucketMs);
    this.buckets.set(bucket, (this.buckets.get(bucket) ?? 0) + count);
  }

  /** Renewals in complete buckets within `[from, to)`; drops buckets before `from`. */
  count(from: number, to: number): number {
    const first = Math.floor(from / this.bucketMs);
    const last = Math.floor(to / this.bucketMs);
    let total = 0;
    for (const [bucket, count] of this.buckets) {
      if (bucket < first) this.buckets.delete(bucket);
      else if (bucket < last) total += count;
    }
    return total;
  }
}

/**
 * Renewals `instances` should have sent in `[from, to)`. An instance renewing steadily through
 * the whole window expects `window / interval`; a younger one (registered, or first seen by this
 * process, less than an interval before the window) only the renewals it has certainly had time
 * to send, so a restart or a burst of registrations never looks like missing renewals.
 */
export function expectedRenewals(
  instances: Iterable<Pick<Instance, 'registeredAt' | 'lease'>>,
  from: number,
  to: number,
  observedSince: number,
): number {
  let expected = 0;
  const span = to - from;
  if (span <= 0) return 0;
  for (const instance of instances) {
    const interval = instance.lease.renewalIntervalMs;
    const start = Math.max(instance.registeredAt, observedSince);
    // Steady once its first renewal (one interval after registering) is inside the window.
    if (start + interval <= from) expected += span / interval;
    // Half an interval of slack: a renewal due just before `to` may still be on its way.
    else if (start < to) expected += Math.max(0, Math.floor((to - start) / interval - 0.5));
  }
  return expected;
}

/** The engaged / released state machine; `evaluate` runs on every eviction pass. */
export class SelfPreservation {
  private engagedSince: number | undefined;
  private last: SelfPreservationStatus;

  constructor(readonly options: SelfPreservationOptions) {
    this.last = this.status(0, 0, 0);
  }

  get current(): SelfPreservationStatus {
    return this.last;
  }

  /** Updates the state from the window's counts; `changed` is true when it engaged or released. */
  evaluate(
    now: number,
    renewals: number,
    expected: number,
    instances: number,
  ): { status: SelfPreservationStatus; changed: boolean } {
    const { enabled, renewalThreshold, minInstances } = this.options;
    const low =
      enabled && instances >= minInstances && expected > 0 && renewals < renewalThreshold * expected;
    const was = this.engagedSince !== undefined;
    if (low && !was) this.engagedSince = now;
    if (!low) this.engagedSince = undefined;
    this.last = this.status(now, renewals, expected);
    return { status: this.last, changed: low !== was };
  }

  private status(now: number, renewals: number, expected: number): SelfPreservationStatus {
    const engaged = this.engagedSince !== undefined;
    const { maxDurationMs, renewalThreshold } = this.options;
    const preserving = engaged && (maxDurationMs === 0 || now - (this.engagedSince ?? now) < maxDurationMs);
    const out: SelfPreservationStatus = {
      engaged,
      preserving,
      renewals,
      expected: Math.round(expected * 100) / 100,
      ratio: expected > 0 ? Math.round((renewals / expected) * 1000) / 1000 : 1,
      threshold: renewalThreshold,
    };
    if (this.engagedSince !== undefined) out.since = this.engagedSince;
    return out;
  }
}

import { type Clock, ConfigurationError, systemClock } from '@flotilla/core';

export interface OutlierEjectionOptions {
  /** Consecutive failures (connection errors, timeouts, 5xx) that eject an instance. Default 5 (Envoy's `consecutive_5xx`). */
  consecutiveFailures?: number;
  /** First ejection time. Default 10 s (Ribbon's `circuitTripTimeoutFactorSeconds`). */
  baseEjectionMs?: number;
  /** Longest ejection. Default 300 s (Envoy's `max_ejection_time`). */
  maxEjectionMs?: number;
  /** At most this percentage of a service's instances is ejected at once, but always at least one. Default 10 (Envoy's). */
  maxEjectionPercent?: number;
  clock?: Clock;
}

export const OUTLIER_EJECTION_DEFAULTS = {
  consecutiveFailures: 5,
  baseEjectionMs: 10_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 10,
} as const;

interface HostState {
  failures: number;
  /** How many times it was ejected, decayed while it behaves (sets the next ejection's length). */
  level: number;
  /** Clock time it returns; 0 when not ejected. */
  ejectedUntil: number;
  /** When it last returned (or was first seen). */
  since: number;
}

/**
 * Passive outlier detection for one service, from the outcomes of real calls (no probes). An
 * instance with `consecutiveFailures` failures in a row is ejected for
 * `min(max, base × 2^k)`, k being how many times it was ejected before (Ribbon's doubling
 * blackout, with Envoy's cap); k goes down by one for every `baseEjectionMs` the instance then
 * spends in rotation, as Envoy decrements its multiplier. It returns when the time is up, or at
 * once when a call to it succeeds (possible when the balancer had to fall back to ejected
 * instances). Never more than `maxEjectionPercent` of the instances (at least one) are out at
 * a time, so a failing dependency cannot eject its whole fleet.
 */
export class OutlierDetector {
  readonly consecutiveFailures: number;
  readonly baseEjectionMs: number;
  readonly maxEjectionMs: number;
  readonly maxEjectionPercent: number;
  private readonly clock: Clock;
  private readonly hosts = new Map<string, HostState>();
  private ejected = 0;
  private nextReturn = Number.POSITIVE_INFINITY;
  /** Bumped whenever the ejected set changes (lets callers cache filtered lists). */
  version = 0;

  constructor(options: OutlierEjectionOptions = {}) {
    const o = { ...OUTLIER_EJECTION_DEFAULTS, ...options };
    const check = (field: string, value: number, min: number, max = Number.POSITIVE_INFINITY) => {
      if (!(value >= min && value <= max)) {
        throw new ConfigurationError(`Outlier ejection ${field} should be in [${min}, ${max}], got ${value}`);
      }
      return value;
    };
    this.consecutiveFailures = check('consecutiveFailures', o.consecutiveFailures, 1);
    this.baseEjectionMs = check('baseEjectionMs', o.baseEjectionMs, 1);
    this.maxEjectionMs = check('maxEjectionMs', o.maxEjectionMs, this.baseEjectionMs);
    this.maxEjectionPercent = check('maxEjectionPercent', o.maxEjectionPercent, 0, 100);
    this.clock = options.clock ?? systemClock;
  }

  /** Instances currently ejected (after returning those whose time is up). */
  get ejectedCount(): number {
    if (this.ejected > 0 && this.nextReturn <= this.clock.now()) this.sweep();
    return this.ejected;
  }

  /** True while `instanceId` is ejected. */
  isEjected(instanceId: string): boolean {
    const host = this.hosts.get(instanceId);
    if (!host || host.ejectedUntil === 0) return false;
    if (host.ejectedUntil > this.clock.now()) return true;
    this.sweep();
    return false;
  }

  /** Remaining ejection of `instanceId` in ms (0 when in rotation). */
  remainingMs(instanceId: string): number {
    const host = this.hosts.get(instanceId);
    return host && host.ejectedUntil > 0 ? Math.max(0, host.ejectedUntil - this.clock.now()) : 0;
  }

  recordSuccess(instanceId: string): void {
    const host = this.hosts.get(instanceId);
    if (!host) return;
    host.failures = 0;
    if (host.ejectedUntil !== 0) this.restore(host, this.clock.now());
  }

  /** Records a failure; true when it ejected the instance. `total` is the service's instance count. */
  recordFailure(instanceId: string, total: number): boolean {
    const now = this.clock.now();
    let host = this.hosts.get(instanceId);
    if (!host) {
      host = { failures: 0, level: 0, ejectedUntil: 0, since: now };
      this.hosts.set(instanceId, host);
    }
    if (host.ejectedUntil !== 0) {
      if (host.ejectedUntil > now) return false;
      this.sweep();
    }
    host.failures++;
    if (host.failures < this.consecutiveFailures) return false;
    if (this.ejectedCount >= Math.max(1, Math.floor((total * this.maxEjectionPercent) / 100))) return false;
    const level = Math.max(0, host.level - Math.floor((now - host.since) / this.baseEjectionMs));
    const duration = Math.min(this.maxEjectionMs, this.baseEjectionMs * 2 ** level);
    host.level = level + 1;
    host.failures = 0;
    host.ejectedUntil = now + duration;
    this.ejected++;
    this.version++;
    if (host.ejectedUntil < this.nextReturn) this.nextReturn = host.ejectedUntil;
    return true;
  }

  /** The instance left the registry. */
  forget(instanceId: string): void {
    const host = this.hosts.get(instanceId);
    if (!host) return;
    if (host.ejectedUntil !== 0) {
      this.ejected--;
      this.version++;
    }
    this.hosts.delete(instanceId);
  }

  private restore(host: HostState, now: number): void {
    host.ejectedUntil = 0;
    host.since = now;
    this.ejected--;
    this.version++;
  }

  /** Returns every instance whose ejection is over. */
  private sweep(): void {
    const now = this.clock.now();
    let next = Number.POSITIVE_INFINITY;
    for (const host of this.hosts.values()) {
      if (host.ejectedUntil === 0) continue;
      if (host.ejectedUntil <= now) this.restore(host, host.ejectedUntil);
      else if (host.ejectedUntil < next) next = host.ejectedUntil;
    }
    this.nextReturn = next;
  }
}

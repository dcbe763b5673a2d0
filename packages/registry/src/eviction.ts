import { ConfigurationError } from '@flotilla/core';
import { type Instance, leaseExpiresAt } from './model.js';

/** How the registry evicts instances whose lease ran out. */
export interface EvictionOptions {
  /** Time between eviction passes; default 1 s. 0 turns the automatic passes off (tests call them). */
  intervalMs: number;
  /**
   * At most this fraction of all instances is evicted in one pass (at least one); default 0.15.
   * Like Eureka's eviction compensation, it turns a sudden mass expiry into a gradual one, so a
   * partition shorter than a few passes never empties the registry.
   */
  maxFraction: number;
}

export const DEFAULT_EVICTION: EvictionOptions = { intervalMs: 1_000, maxFraction: 0.15 };

export function resolveEviction(options: Partial<EvictionOptions> = {}): EvictionOptions {
  const out = { ...DEFAULT_EVICTION, ...options };
  if (!(Number.isInteger(out.intervalMs) && out.intervalMs >= 0)) {
    throw new ConfigurationError(`eviction.intervalMs should be an integer ≥ 0, got ${out.intervalMs}`, {
      data: { field: 'eviction.intervalMs', value: out.intervalMs },
    });
  }
  if (!(out.maxFraction > 0 && out.maxFraction <= 1)) {
    throw new ConfigurationError(`eviction.maxFraction should be in (0, 1], got ${out.maxFraction}`, {
      data: { field: 'eviction.maxFraction', value: out.maxFraction },
    });
  }
  return out;
}

/** Instances whose lease expired before `now`, longest expired first. */
export function expiredInstances(instances: Iterable<Instance>, now: number): Instance[] {
  const out: Instance[] = [];
  for (const instance of instances) if (leaseExpiresAt(instance) < now) out.push(instance);
  return out.sort((a, b) => leaseExpiresAt(a) - leaseExpiresAt(b));
}

/** How many instances one pass may evict out of `total` registered. */
export function evictionBudget(total: number, maxFraction: number): number {
  return Math.max(1, Math.floor(total * maxFraction));
}

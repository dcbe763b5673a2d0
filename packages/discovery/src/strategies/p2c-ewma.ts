import { type Clock, systemClock } from '@flotilla/core';
import type { Instance } from '../model.js';
import type { CallOutcome, Strategy } from './strategy.js';

interface Stats {
  /** Exponentially weighted latency in ms; 0 until the first sample. */
  ewma: number;
  /** Time of the last sample (clock ms). */
  at: number;
  outstanding: number;
}

export interface P2cEwmaOptions {
  /** Time constant of the latency average: a sample this old weighs 1/e. Default 10 s (Finagle's). */
  decayMs?: number;
  clock?: Clock;
  random?: () => number;
}

/**
 * Power of two choices on peak-EWMA latency (Finagle's and Linkerd's balancer): take two random
 * instances and keep the one with the lower `ewma × (outstanding + 1)`. Two random choices
 * avoid the herd behaviour of "always the best" (every client piling onto the same instance)
 * while still steering away from slow or busy ones. Peaks count at once, improvements decay
 * with `decayMs`, so a slow instance is avoided quickly and trusted again gradually. Instances
 * without a sample score 0 and get tried.
 */
export class P2cEwma implements Strategy {
  readonly name = 'p2c-ewma';
  private readonly stats = new Map<string, Stats>();
  private readonly decayMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private slotsFor: readonly Instance[] | undefined;
  private slots: Stats[] = [];

  constructor(options: P2cEwmaOptions = {}) {
    this.decayMs = options.decayMs ?? 10_000;
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
  }

  /** Current cost of an instance (lower is better). */
  cost(instanceId: string): number {
    const s = this.stats.get(instanceId);
    return s ? s.ewma * (s.outstanding + 1) : 0;
  }

  pick(instances: readonly Instance[]): Instance | undefined {
    const n = instances.length;
    if (n <= 1) return instances[0];
    const a = Math.floor(this.random() * n);
    let b = Math.floor(this.random() * (n - 1));
    if (b >= a) b++;
    // Stats lined up with the array (rebuilt when it changes), so a pick does no map lookups.
    if (this.slotsFor !== instances) {
      this.slots = instances.map((i) => this.entry(i.instanceId));
      this.slotsFor = instances;
    }
    const sa = this.slots[a] as Stats;
    const sb = this.slots[b] as Stats;
    return sb.ewma * (sb.outstanding + 1) < sa.ewma * (sa.outstanding + 1) ? instances[b] : instances[a];
  }

  onStart(instance: Instance): void {
    this.entry(instance.instanceId).outstanding++;
  }

  onEnd(instance: Instance, outcome: CallOutcome): void {
    const s = this.entry(instance.instanceId);
    if (s.outstanding > 0) s.outstanding--;
    const now = this.clock.now();
    const latency = Math.max(0, outcome.latencyMs);
    if (s.at === 0 || latency > s.ewma) {
      // Peak sensitivity: a slower sample replaces the average at once.
      s.ewma = latency;
    } else {
      const w = Math.exp(-Math.max(0, now - s.at) / this.decayMs);
      s.ewma = s.ewma * w + latency * (1 - w);
    }
    s.at = now || 1;
  }

  onRemove(instanceId: string): void {
    this.stats.delete(instanceId);
  }

  private entry(instanceId: string): Stats {
    let s = this.stats.get(instanceId);
    if (!s) {
      s = { ewma: 0, at: 0, outstanding: 0 };
      this.stats.set(instanceId, s);
    }
    return s;
  }
}

export const p2cEwma = (options?: P2cEwmaOptions): P2cEwma => new P2cEwma(options);

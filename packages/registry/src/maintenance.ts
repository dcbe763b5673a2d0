import type { TimerHandle } from '@flotilla/core';
import { type EvictionOptions, evictionBudget, expiredInstances } from './eviction.js';
import { HealthChecker } from './health-checks.js';
import type { Registry } from './registry.js';
import {
  expectedRenewals,
  SelfPreservation,
  type SelfPreservationOptions,
  type SelfPreservationStatus,
} from './self-preservation.js';

/** What one maintenance pass did. */
export interface PassResult {
  /** This process leads (evicts, probes) for the store. */
  leader: boolean;
  evicted: number;
  /** Expired instances kept because self-preservation holds. */
  held: number;
  selfPreservation: SelfPreservationStatus;
}

/** How often a still-holding self-preservation is logged again. */
const HOLD_LOG_INTERVAL_MS = 30_000;

/**
 * The periodic pass (every second by default): measure the renewal rate, engage or release
 * self-preservation, evict expired leases within the per-pass bound, start due health probes.
 * Every registry process measures (each reports the flag); only the store's leader evicts and
 * probes.
 */
export class Maintenance {
  readonly selfPreservation: SelfPreservation;
  readonly health: HealthChecker;
  private timer: TimerHandle | undefined;
  private running: Promise<unknown> = Promise.resolve();
  private active = false;
  private lastHoldLog = 0;

  constructor(
    private readonly registry: Registry,
    private readonly options: {
      eviction: EvictionOptions;
      selfPreservation: SelfPreservationOptions;
      healthChecks: boolean;
    },
  ) {
    this.selfPreservation = new SelfPreservation(options.selfPreservation);
    this.health = new HealthChecker(registry);
  }

  start(): void {
    this.active = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.active = false;
    if (this.timer) this.registry.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running.catch(() => {});
    await this.health.idle();
  }

  /** Resolves when the pass in progress (if any) has finished. */
  async idle(): Promise<void> {
    await this.running.catch(() => {});
  }

  private schedule(): void {
    const { intervalMs } = this.options.eviction;
    if (!this.active || intervalMs === 0) return;
    this.timer = this.registry.clock.setTimeout(() => {
      this.timer = undefined;
      this.running = this.pass()
        .catch((error) => this.registry.logger.error({ err: error }, 'registry maintenance pass failed'))
        .finally(() => this.schedule());
    }, intervalMs);
  }

  /** One pass; the timer runs it every `eviction.intervalMs`, tests may call it directly. */
  async pass(): Promise<PassResult> {
    const { registry } = this;
    const now = registry.clock.now();
    const status = this.measure(now);
    const result: PassResult = { leader: false, evicted: 0, held: 0, selfPreservation: status };
    result.leader = await registry.store.isLeader();
    if (!result.leader) return result;

    if (registry.capabilities.leaseExpiry === 'registry') {
      const expired = expiredInstances(registry.view.values(), now);
      if (expired.length > 0 && status.preserving) {
        result.held = expired.length;
        if (now - this.lastHoldLog >= HOLD_LOG_INTERVAL_MS) {
          this.lastHoldLog = now;
          registry.logger.warn(
            { held: expired.length, ...status },
            'SELF-PRESERVATION: not evicting expired instances while renewals are low',
          );
        }
      } else if (expired.length > 0) {
        const budget = evictionBudget(registry.view.size, this.options.eviction.maxFraction);
        for (const instance of expired.slice(0, budget)) {
          if (await registry.evict(instance.service, instance.instanceId, now)) result.evicted++;
        }
      }
    } else if (status.preserving && registry.store.holdLeases) {
      // The store expires leases on its own: keep them alive on the instances' behalf.
      await registry.store.holdLeases([...registry.view.values()]);
    }

    if (this.options.healthChecks) {
      this.health.tick(now).catch((error) => registry.logger.error({ err: error }, 'health checks failed'));
    }
    return result;
  }

  /** Updates self-preservation from the last window of renewals, logging loudly on changes. */
  private measure(now: number): SelfPreservationStatus {
    const { registry } = this;
    const to = Math.floor(now / 1_000) * 1_000;
    const from = to - this.options.selfPreservation.windowMs;
    const renewals = registry.meter.count(from, to);
    const expected = expectedRenewals(registry.view.values(), from, to, registry.observedSince);
    const wasPreserving = this.selfPreservation.current.preserving;
    const { status, changed } = this.selfPreservation.evaluate(now, renewals, expected, registry.view.size);
    if (changed && status.engaged) {
      registry.logger.error(
        status,
        `SELF-PRESERVATION ENGAGED: ${renewals} renewals in the last window, ${status.expected} expected ` +
          `(ratio ${status.ratio} < ${status.threshold}); this registry looks cut off from its instances, eviction stopped`,
      );
    } else if (changed) {
      registry.logger.warn(status, 'self-preservation released: renewals are back, eviction resumes');
    } else if (wasPreserving && !status.preserving && status.engaged) {
      registry.logger.error(
        status,
        `SELF-PRESERVATION has lasted ${this.options.selfPreservation.maxDurationMs} ms: resuming bounded eviction`,
      );
    }
    if (changed) registry.emit({ type: 'self-preservation', status });
    return status;
  }
}

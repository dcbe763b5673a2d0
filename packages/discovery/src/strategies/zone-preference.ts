import { ConfigurationError } from '@flotilla/core';
import type { Instance } from '../model.js';
import type { CallOutcome, PickOptions, Strategy } from './strategy.js';

export interface ZonePreferenceOptions {
  /** This client's zone; a pick's `zone` overrides it. Without either, every instance is used. */
  zone?: string;
  /**
   * Stay in the zone only while it has at least this many available instances; below, spill
   * over to all zones so a nearly empty zone is not overloaded. Default 2.
   */
  minInstances?: number;
}

/**
 * Prefers instances in the caller's zone (cheaper, faster, no cross-zone traffic), falling back
 * to every zone when the local one has too few available instances (ejected and non-UP ones are
 * already gone from what the balancer passes in). Wraps another strategy that picks within the
 * chosen set. The zone subset is cached per instance array, so picks do not allocate.
 */
export class ZonePreference implements Strategy {
  readonly name: string;
  private readonly minInstances: number;
  private subsetFor: readonly Instance[] | undefined;
  private subsetZone: string | undefined;
  private subset: readonly Instance[] = [];

  constructor(
    private readonly inner: Strategy,
    private readonly options: ZonePreferenceOptions = {},
  ) {
    this.name = `zone-preference(${inner.name})`;
    this.minInstances = options.minInstances ?? 2;
    if (!Number.isInteger(this.minInstances) || this.minInstances < 1) {
      throw new ConfigurationError(
        `ZonePreference minInstances should be an integer ≥ 1, got ${options.minInstances}`,
      );
    }
  }

  /** The instances a pick in `zone` chooses from. */
  candidates(instances: readonly Instance[], zone: string | undefined): readonly Instance[] {
    if (zone === undefined) return instances;
    if (this.subsetFor !== instances || this.subsetZone !== zone) {
      this.subset = Object.freeze(instances.filter((i) => i.zone === zone));
      this.subsetFor = instances;
      this.subsetZone = zone;
    }
    return this.subset.length >= this.minInstances ? this.subset : instances;
  }

  pick(instances: readonly Instance[], options?: PickOptions): Instance | undefined {
    return this.inner.pick(this.candidates(instances, options?.zone ?? this.options.zone), options);
  }

  onStart(instance: Instance): void {
    this.inner.onStart?.(instance);
  }

  onEnd(instance: Instance, outcome: CallOutcome): void {
    this.inner.onEnd?.(instance, outcome);
  }

  onRemove(instanceId: string): void {
    this.inner.onRemove?.(instanceId);
  }
}

export const zonePreference = (inner: Strategy, options?: ZonePreferenceOptions): ZonePreference =>
  new ZonePreference(inner, options);

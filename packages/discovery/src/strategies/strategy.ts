import type { Instance } from '../model.js';

/** What a pick may depend on. */
export interface PickOptions {
  /** Sticky key (user id, session, cache key) for consistent hashing. */
  key?: string;
  /** The caller's zone, for zone preference (overrides the strategy's configured zone). */
  zone?: string;
}

/** Outcome of one call to an instance. */
export interface CallOutcome {
  ok: boolean;
  latencyMs: number;
}

/**
 * A load-balancing strategy for one service. `instances` is an immutable array that only
 * changes identity when the membership does, so a strategy may cache derived structures (a
 * hash ring, a zone subset) keyed by it.
 */
export interface Strategy {
  readonly name: string;
  /** Chooses one of `instances`; undefined only when it is empty. Must not allocate on the hot path. */
  pick(instances: readonly Instance[], options?: PickOptions): Instance | undefined;
  /** A call to `instance` starts (for outstanding-request counts). */
  onStart?(instance: Instance): void;
  /** A call to `instance` ended. */
  onEnd?(instance: Instance, outcome: CallOutcome): void;
  /** The instance left the registry: drop its statistics. */
  onRemove?(instanceId: string): void;
}

/** Makes one strategy per service (strategies keep per-service state). */
export type StrategyFactory = () => Strategy;

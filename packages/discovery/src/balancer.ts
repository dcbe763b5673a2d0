import { type Clock, ConfigurationError, systemClock } from '@flotilla/core';
import { isAbortError, isFailure, isRejection } from '@flotilla/resilience';
import { NoInstanceAvailableError } from './errors.js';
import type { Instance, ServiceChange } from './model.js';
import { OutlierDetector, type OutlierEjectionOptions } from './outlier-ejection.js';
import { ConsistentHash } from './strategies/consistent-hash.js';
import { LeastOutstanding } from './strategies/least-outstanding.js';
import { P2cEwma } from './strategies/p2c-ewma.js';
import { RandomStrategy } from './strategies/random.js';
import { RoundRobin } from './strategies/round-robin.js';
import type { PickOptions, Strategy, StrategyFactory } from './strategies/strategy.js';
import { ZonePreference, type ZonePreferenceOptions } from './strategies/zone-preference.js';

/** Where the balancer reads instances: a `DiscoveryClient`, or anything shaped like it. */
export interface InstanceSource {
  /** UP instances of a service, as an immutable array replaced on change. */
  instances(service: string): readonly Instance[];
  on(event: 'change', listener: (change: ServiceChange) => void): () => void;
}

export type StrategyName = 'round-robin' | 'random' | 'least-outstanding' | 'p2c-ewma' | 'consistent-hash';

export interface BalancerOptions {
  source: InstanceSource;
  /** A strategy name or a factory (one strategy per service). Default `round-robin`. */
  strategy?: StrategyName | StrategyFactory;
  /** Prefer this zone (wraps the strategy in `ZonePreference`). */
  zone?: string | ZonePreferenceOptions;
  /** Passive outlier ejection; `false` turns it off. */
  ejection?: OutlierEjectionOptions | false;
  clock?: Clock;
  random?: () => number;
}

export interface CallOptions extends PickOptions {
  /** Decides whether an error counts against the instance. Default: connection errors, timeouts, 5xx. */
  isFailure?: (error: unknown) => boolean;
  /** Instance ids to avoid (a retry goes to another instance); ignored when it would leave none. */
  exclude?: ReadonlySet<string>;
}

/**
 * An instance {@link Balancer.start} picked for one call; {@link Balancer.finish} records the
 * call's outcome on it, once.
 */
export interface BalancerPick {
  readonly instance: Instance;
  /** `performance.now()` when the call started (the strategy's latency). */
  readonly started: number;
}

/** A pick with what `finish` records on: the service's state, and its UP count at the pick. */
class Pick implements BalancerPick {
  finished = false;
  constructor(
    readonly instance: Instance,
    readonly started: number,
    readonly state: ServiceState,
    readonly up: number,
  ) {}
}

interface ServiceState {
  readonly strategy: Strategy;
  readonly detector: OutlierDetector | undefined;
  filteredFor: readonly Instance[] | undefined;
  filteredVersion: number;
  filtered: readonly Instance[];
}

/** Something answered with a status (a fetch `Response`, an undici response). */
function statusOfResult(value: unknown): number | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const status = (value as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

/**
 * Ties the local copy, a strategy and outlier ejection together. `pick` chooses among a
 * service's UP instances minus the ejected ones (all of them, if every one is ejected: Envoy's
 * panic mode, better than failing outright); `call` also records each call's outcome and
 * latency for the strategy and the ejection.
 */
export class Balancer {
  private readonly services = new Map<string, ServiceState>();
  private readonly makeStrategy: StrategyFactory;
  private readonly clock: Clock;
  private readonly unsubscribe: () => void;

  constructor(private readonly options: BalancerOptions) {
    this.clock = options.clock ?? systemClock;
    const random = options.random ?? Math.random;
    const base = resolveStrategy(options.strategy ?? 'round-robin', this.clock, random);
    const zone = typeof options.zone === 'string' ? { zone: options.zone } : options.zone;
    this.makeStrategy = zone ? () => new ZonePreference(base(), zone) : base;
    this.unsubscribe = options.source.on('change', (change) => {
      const state = this.services.get(change.service);
      if (!state) return;
      for (const gone of change.removed) {
        state.strategy.onRemove?.(gone.instanceId);
        state.detector?.forget(gone.instanceId);
      }
    });
  }

  /** Stops following the source's changes. */
  close(): void {
    this.unsubscribe();
  }

  /** The strategy serving `service` (created on first use). */
  strategyFor(service: string): Strategy {
    return this.state(service).strategy;
  }

  /** The outlier detector of `service`, if ejection is on. */
  detectorFor(service: string): OutlierDetector | undefined {
    return this.state(service).detector;
  }

  /** Instances a pick chooses from: UP, not ejected (all UP ones if every one is ejected). */
  available(service: string): readonly Instance[] {
    return this.candidates(this.options.source.instances(service), this.state(service));
  }

  /** Chooses an instance of `service`; undefined when none is UP. */
  pick(service: string, options?: PickOptions): Instance | undefined {
    const state = this.state(service);
    return state.strategy.pick(this.candidates(this.options.source.instances(service), state), options);
  }

  /**
   * Picks an instance, runs `fn` with it and records the outcome: a thrown connection error,
   * timeout or 5xx, or a returned response with a 5xx `status`, is a failure; a caller's abort
   * counts as nothing. Throws `NoInstanceAvailableError` when there is no instance.
   */
  async call<T>(
    service: string,
    fn: (instance: Instance) => Promise<T> | T,
    options?: CallOptions,
  ): Promise<T> {
    const pick = this.start(service, options);
    let ok: boolean | undefined;
    try {
      const result = await fn(pick.instance);
      const status = statusOfResult(result);
      ok = status === undefined || status < 500;
      return result;
    } catch (error) {
      if (!isAbortError(error) && !isRejection(error)) ok = !(options?.isFailure ?? isFailure)(error);
      throw error;
    } finally {
      this.finish(pick, ok);
    }
  }

  /**
   * The first half of {@link call}, for callers that run the call by callbacks (the gateway's
   * fast path): picks an instance of `service` (not one of `exclude` while another is
   * available) and counts the call started for the strategy. Throws `NoInstanceAvailableError`
   * when there is no instance. Each pick must be finished once.
   */
  start(service: string, options?: CallOptions): BalancerPick {
    const state = this.state(service);
    const up = this.options.source.instances(service);
    let candidates = this.candidates(up, state);
    const exclude = options?.exclude;
    if (exclude !== undefined && exclude.size > 0 && candidates.length > 1) {
      const rest = candidates.filter((i) => !exclude.has(i.instanceId));
      if (rest.length > 0) candidates = rest;
    }
    const instance = state.strategy.pick(candidates, options);
    if (!instance) {
      throw new NoInstanceAvailableError(`No instance of service "${service}" is available`, {
        data: { service },
      });
    }
    state.strategy.onStart?.(instance);
    return new Pick(instance, performance.now(), state, up.length);
  }

  /**
   * Records how a started call went, for the strategy (latency, calls in flight) and outlier
   * ejection: `ok` true for a success, false for a failure, undefined for a call that counts as
   * neither (aborted by its caller). A pick is recorded once; finishing it again does nothing.
   */
  finish(pick: BalancerPick, ok: boolean | undefined): void {
    if (!(pick instanceof Pick) || pick.finished) return; // not this balancer's kind, or finished
    pick.finished = true;
    const { instance, state, up } = pick;
    state.strategy.onEnd?.(instance, { ok: ok ?? true, latencyMs: performance.now() - pick.started });
    if (ok === true) state.detector?.recordSuccess(instance.instanceId);
    else if (ok === false) state.detector?.recordFailure(instance.instanceId, up);
  }

  private state(service: string): ServiceState {
    let state = this.services.get(service);
    if (!state) {
      const ejection = this.options.ejection;
      state = {
        strategy: this.makeStrategy(),
        detector: ejection === false ? undefined : new OutlierDetector({ clock: this.clock, ...ejection }),
        filteredFor: undefined,
        filteredVersion: -1,
        filtered: [],
      };
      this.services.set(service, state);
    }
    return state;
  }

  private candidates(up: readonly Instance[], state: ServiceState): readonly Instance[] {
    const detector = state.detector;
    if (!detector || detector.ejectedCount === 0) return up;
    if (state.filteredFor !== up || state.filteredVersion !== detector.version) {
      state.filtered = Object.freeze(up.filter((i) => !detector.isEjected(i.instanceId)));
      state.filteredFor = up;
      state.filteredVersion = detector.version;
    }
    return state.filtered.length > 0 ? state.filtered : up;
  }
}

function resolveStrategy(
  strategy: StrategyName | StrategyFactory,
  clock: Clock,
  random: () => number,
): StrategyFactory {
  if (typeof strategy === 'function') return strategy;
  switch (strategy) {
    case 'round-robin':
      return () => new RoundRobin();
    case 'random':
      return () => new RandomStrategy(random);
    case 'least-outstanding':
      return () => new LeastOutstanding();
    case 'p2c-ewma':
      return () => new P2cEwma({ clock, random });
    case 'consistent-hash':
      return () => new ConsistentHash({ random });
    default:
      throw new ConfigurationError(
        `Balancer strategy should be one of round-robin, random, least-outstanding, p2c-ewma, consistent-hash or a factory, got "${String(strategy)}"`,
      );
  }
}

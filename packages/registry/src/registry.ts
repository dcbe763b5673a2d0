import { type Clock, createLogger, type Logger, newId, systemClock } from '@flotilla/core';
import { InstanceNotFoundError, NotRegisteredError } from './errors.js';
import { type EvictionOptions, resolveEviction } from './eviction.js';
import { Maintenance } from './maintenance.js';
import {
  type Change,
  cloneInstance,
  DEFAULT_LEASE,
  effectiveStatus,
  type Instance,
  type InstanceFilter,
  type InstanceStatus,
  type LeaseSettings,
  matchesFilter,
  type ServiceSummary,
} from './model.js';
import { buildInstance, type RegistrationInput, sameRegistration, stableJson } from './registration.js';
import {
  RenewalMeter,
  resolveSelfPreservation,
  type SelfPreservationOptions,
  type SelfPreservationStatus,
} from './self-preservation.js';
import type { RegistryStore, StoreCapabilities, StoreEvent } from './stores/store.js';
import { RegistryView } from './view.js';

export type { RegistrationInput } from './registration.js';

/** What registry subscribers (the SSE watch, the Eureka delta queue) receive. */
export type RegistryEvent =
  | { type: 'change'; change: Change }
  /** The view was replaced from a snapshot: re-read everything at `revision`. */
  | { type: 'resync'; revision: number }
  /** Self-preservation engaged or released. */
  | { type: 'self-preservation'; status: SelfPreservationStatus };

/** Optional hooks the metrics module plugs in. */
export interface RegistryHooks {
  renewed?(count: number): void;
  evicted?(instance: Instance): void;
  registered?(instance: Instance): void;
  deregistered?(instance: Instance): void;
  healthChecked?(instance: Instance, ok: boolean): void;
}

export interface RegistryOptions {
  store: RegistryStore;
  clock?: Clock;
  logger?: Logger;
  /** Name of this registry process in logs and leader election; default a new id. */
  nodeId?: string;
  /** Lease for registrations that carry none; default renew 10 s, expire 30 s. */
  lease?: Partial<LeaseSettings>;
  eviction?: Partial<EvictionOptions>;
  selfPreservation?: Partial<SelfPreservationOptions>;
  /** Probe instances that ask for it; default true. */
  healthChecks?: boolean;
  /** How long a write waits to see its change come back through the feed; default 5 s. */
  writeVisibilityTimeoutMs?: number;
  hooks?: RegistryHooks;
}

/**
 * The registry: this process's view of all instances, the writes that go through the store,
 * lease renewal, and (in `Maintenance`) eviction, self-preservation and health checks.
 */
export class Registry {
  readonly store: RegistryStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly nodeId: string;
  readonly view = new RegistryView();
  readonly meter = new RenewalMeter();
  readonly hooks: RegistryHooks;
  readonly defaultLease: LeaseSettings;
  readonly maintenance: Maintenance;
  /** Unix milliseconds this process started watching renewals (self-preservation prorates from it). */
  observedSince = 0;
  private readonly listeners = new Set<(event: RegistryEvent) => void>();
  private readonly visibilityTimeoutMs: number;
  private started = false;

  constructor(options: RegistryOptions) {
    this.store = options.store;
    this.clock = options.clock ?? systemClock;
    this.nodeId = options.nodeId ?? newId();
    this.logger = options.logger ?? createLogger({ service: 'registry', instance: this.nodeId });
    this.hooks = options.hooks ?? {};
    this.defaultLease = { ...DEFAULT_LEASE, ...options.lease };
    this.visibilityTimeoutMs = options.writeVisibilityTimeoutMs ?? 5_000;
    this.maintenance = new Maintenance(this, {
      eviction: resolveEviction(options.eviction),
      selfPreservation: resolveSelfPreservation(options.selfPreservation),
      healthChecks: options.healthChecks ?? true,
    });
  }

  get capabilities(): StoreCapabilities {
    return this.store.capabilities;
  }

  get revision(): number {
    return this.view.revision;
  }

  /** The store's revision history that `revision` counts in (see `StoreSnapshot.epoch`). */
  get epoch(): string {
    return this.view.epoch;
  }

  /** Opens the store, loads the view and starts the maintenance passes. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const snapshot = await this.store.open((event) => this.onStoreEvent(event));
    this.view.reset(snapshot.instances, snapshot.revision, snapshot.epoch);
    this.observedSince = this.clock.now();
    this.maintenance.start();
    this.logger.info(
      {
        store: this.store.kind,
        instances: snapshot.instances.length,
        revision: snapshot.revision,
        epoch: snapshot.epoch,
      },
      'registry started',
    );
  }

  /** Stops the passes, then flushes and closes the store. */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.maintenance.stop();
    await this.store.close();
  }

  /** Receives changes and resyncs; returns the call that unsubscribes. */
  subscribe(listener: (event: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Registers or re-registers an instance. A re-registration that changes nothing is a renewal. */
  async register(input: RegistrationInput): Promise<{ instance: Instance; created: boolean }> {
    const now = this.clock.now();
    const existing = this.view.get(input.service, input.instanceId);
    const next = buildInstance(input, existing, now, this.defaultLease);
    if (existing && sameRegistration(existing, next)) {
      await this.renew(input.service, input.instanceId);
      return { instance: cloneInstance(existing), created: false };
    }
    const change = await this.write(() => this.store.put(next, existing ? 'updated' : 'registered'));
    this.hooks.registered?.(change.instance);
    return { instance: change.instance, created: existing === undefined };
  }

  /** Renews the lease; `NotRegisteredError` (404, register again) when the instance is unknown. */
  async renew(service: string, instanceId: string): Promise<Instance> {
    const instance = this.view.get(service, instanceId);
    if (!instance) throw NotRegisteredError.of(service, instanceId);
    const now = this.clock.now();
    if (!(await this.store.renew(service, instanceId, now))) throw NotRegisteredError.of(service, instanceId);
    if (now > instance.lastRenewedAt) instance.lastRenewedAt = now;
    this.meter.record(now);
    this.hooks.renewed?.(1);
    return instance;
  }

  /** Removes an instance; `InstanceNotFoundError` when it is not registered. */
  async deregister(service: string, instanceId: string): Promise<Instance> {
    const change = await this.write(() => this.store.remove(service, instanceId, 'deregistered'));
    if (!change) throw InstanceNotFoundError.of(service, instanceId);
    this.hooks.deregistered?.(change.instance);
    return change.instance;
  }

  /** The status the instance reports about itself (STARTING → UP, UP → DOWN on its own health). */
  setStatus(service: string, instanceId: string, status: InstanceStatus): Promise<Instance> {
    return this.update(service, instanceId, (i) => {
      i.reportedStatus = status;
    });
  }

  /** Sets (or, with undefined, clears) the operator's status override. */
  setStatusOverride(
    service: string,
    instanceId: string,
    status: InstanceStatus | undefined,
  ): Promise<Instance> {
    return this.update(service, instanceId, (i) => {
      if (status === undefined) delete i.statusOverride;
      else i.statusOverride = status;
    });
  }

  /** Applies a merge patch to the metadata: a string sets a key, null removes it. */
  updateMetadata(
    service: string,
    instanceId: string,
    patch: Record<string, string | null>,
  ): Promise<Instance> {
    return this.update(service, instanceId, (i) => {
      for (const [key, value] of Object.entries(patch)) {
        if (value === null) delete i.metadata[key];
        else i.metadata[key] = value;
      }
    });
  }

  /** Records the verdict of the registry's health checks. */
  setHealth(service: string, instanceId: string, health: 'UP' | 'DOWN'): Promise<Instance> {
    return this.update(service, instanceId, (i) => {
      i.health = health;
    });
  }

  /** Changes an instance through `mutate`; no change is written when nothing changed. */
  async update(service: string, instanceId: string, mutate: (instance: Instance) => void): Promise<Instance> {
    const current = this.view.get(service, instanceId);
    if (!current) throw InstanceNotFoundError.of(service, instanceId);
    const next = cloneInstance(current);
    mutate(next);
    next.status = effectiveStatus(next);
    if (stableJson(next) === stableJson(current)) return next;
    next.updatedAt = this.clock.now();
    if (next.eureka)
      next.eureka.lastDirtyTimestamp = Math.max(next.eureka.lastDirtyTimestamp ?? 0, next.updatedAt);
    const change = await this.write(() => this.store.put(next, 'updated'));
    return change.instance;
  }

  get(service: string, instanceId: string): Instance | undefined {
    const instance = this.view.get(service, instanceId);
    return instance && cloneInstance(instance);
  }

  findById(instanceId: string): Instance | undefined {
    const instance = this.view.findById(instanceId);
    return instance && cloneInstance(instance);
  }

  /** Instances of `service` that pass `filter`, ordered by instance id. */
  instances(service: string, filter: InstanceFilter = {}): Instance[] {
    const all = this.view.service(service);
    if (!all) return [];
    const out: Instance[] = [];
    for (const instance of all.values())
      if (matchesFilter(instance, filter)) out.push(cloneInstance(instance));
    return out.sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  }

  /** Every service with its instance counts, ordered by name. */
  services(): ServiceSummary[] {
    const out: ServiceSummary[] = [];
    for (const [name, instances] of this.view.services()) {
      const statuses: ServiceSummary['statuses'] = {};
      for (const i of instances.values()) statuses[i.status] = (statuses[i.status] ?? 0) + 1;
      out.push({ name, instances: instances.size, statuses });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** Every instance (deep copies) and the revision (of `epoch`) they are current at. */
  snapshot(): { epoch: string; revision: number; instances: Instance[] } {
    return {
      epoch: this.view.epoch,
      revision: this.view.revision,
      instances: [...this.view.values()].map(cloneInstance),
    };
  }

  /**
   * Changes after `revision` of `epoch` for a resuming watcher, or undefined when a snapshot is
   * needed: the revision is from another history (a restarted memory registry, another
   * database), or its changes are no longer all retained.
   */
  async changesSince(epoch: string, revision: number): Promise<Change[] | undefined> {
    if (epoch !== this.view.epoch) return undefined;
    if (revision === this.view.revision) return [];
    if (revision > this.view.revision) return undefined;
    return this.store.changesSince(revision);
  }

  /** Where self-preservation stands now. */
  get selfPreservation(): SelfPreservationStatus {
    return this.maintenance.selfPreservation.current;
  }

  /**
   * Evicts one instance if its lease (as the store knows it) had expired at `expiredAt`; false
   * when it was renewed or removed meanwhile. Eviction passes call it; so can tests.
   */
  async evict(service: string, instanceId: string, expiredAt: number): Promise<boolean> {
    const change = await this.write(() => this.store.remove(service, instanceId, 'evicted', { expiredAt }));
    if (!change) return false;
    this.hooks.evicted?.(change.instance);
    this.logger.info(
      { service, instanceId, lastRenewedAt: change.instance.lastRenewedAt, lease: change.instance.lease },
      'evicted an instance whose lease expired',
    );
    return true;
  }

  /** Runs a store write and waits until its change is in this process's view. */
  private async write<T extends Change | undefined>(op: () => Promise<T>): Promise<T> {
    const change = await op();
    if (change && !(await this.view.waitFor(change.revision, this.visibilityTimeoutMs))) {
      this.logger.warn({ revision: change.revision }, 'write committed but not yet seen on the change feed');
    }
    return change;
  }

  private onStoreEvent(event: StoreEvent): void {
    switch (event.type) {
      case 'change':
        if (!this.view.apply(event.change)) break;
        // A store that expires leases itself (etcd) evicts without us: count what we observe.
        if (event.change.type === 'evicted' && this.capabilities.leaseExpiry === 'store') {
          this.hooks.evicted?.(event.change.instance);
        }
        this.emit({ type: 'change', change: event.change });
        break;
      case 'renewals': {
        const now = this.clock.now();
        if (event.count > 0) this.meter.record(now, event.count);
        for (const r of event.renewed ?? []) {
          const instance = this.view.get(r.service, r.instanceId);
          if (instance && r.at > instance.lastRenewedAt) instance.lastRenewedAt = r.at;
        }
        break;
      }
      case 'resync':
        this.logger.warn(
          { revision: event.snapshot.revision },
          'registry change feed resynchronised from a snapshot',
        );
        this.view.reset(event.snapshot.instances, event.snapshot.revision, event.snapshot.epoch);
        this.emit({ type: 'resync', revision: this.view.revision });
        break;
    }
  }

  /** Delivers an event to the subscribers (used by `Maintenance` for self-preservation). */
  emit(event: RegistryEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.logger.error({ err: error }, 'registry listener failed');
      }
    }
  }
}

import { type Change, type Instance, instanceKey, isRemoval } from './model.js';

/**
 * This process's copy of the whole registry, fed only by the store's ordered feed. Reads and
 * watches are served from it; writes wait until their change has come back through it, so a
 * client always reads its own writes from the process it wrote to.
 */
export class RegistryView {
  private readonly byKey = new Map<string, Instance>();
  private readonly byService = new Map<string, Map<string, Instance>>();
  private readonly byId = new Map<string, Set<string>>();
  private waiters: { revision: number; resolve: () => void }[] = [];
  revision = 0;
  /** The store's revision history `revision` belongs to. */
  epoch = '';

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<Instance> {
    return this.byKey.values();
  }

  get(service: string, instanceId: string): Instance | undefined {
    return this.byKey.get(instanceKey(service, instanceId));
  }

  /** The instance with this id in any service (Eureka's `instances/{id}`); the first one if several. */
  findById(instanceId: string): Instance | undefined {
    const keys = this.byId.get(instanceId);
    if (!keys) return undefined;
    for (const key of keys) return this.byKey.get(key);
    return undefined;
  }

  service(name: string): Map<string, Instance> | undefined {
    return this.byService.get(name);
  }

  services(): IterableIterator<[string, Map<string, Instance>]> {
    return this.byService.entries();
  }

  /** Applies a change from the feed; false when it is not newer than what the view has. */
  apply(change: Change): boolean {
    if (change.revision <= this.revision) return false;
    const { instance } = change;
    if (isRemoval(change.type)) this.delete(instance.service, instance.instanceId);
    else this.set(instance);
    this.revision = change.revision;
    this.release();
    return true;
  }

  /** Replaces everything with a snapshot. */
  reset(instances: readonly Instance[], revision: number, epoch: string): void {
    this.byKey.clear();
    this.byService.clear();
    this.byId.clear();
    for (const instance of instances) this.set(instance);
    // Within one history the view never goes back; another history counts from its own start.
    this.revision = epoch === this.epoch ? Math.max(this.revision, revision) : revision;
    this.epoch = epoch;
    this.release();
  }

  /** Resolves true once the view has reached `revision`, false after `timeoutMs`. */
  waitFor(revision: number, timeoutMs: number): Promise<boolean> {
    if (this.revision >= revision) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref?.();
      const waiter = {
        revision,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiters.push(waiter);
    });
  }

  private release(): void {
    if (this.waiters.length === 0) return;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.revision <= this.revision) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private set(instance: Instance): void {
    const key = instanceKey(instance.service, instance.instanceId);
    const previous = this.byKey.get(key);
    // Renewal times are not revisioned: never move them backwards when a change arrives.
    if (previous && previous.lastRenewedAt > instance.lastRenewedAt)
      instance.lastRenewedAt = previous.lastRenewedAt;
    this.byKey.set(key, instance);
    let service = this.byService.get(instance.service);
    if (!service) {
      service = new Map();
      this.byService.set(instance.service, service);
    }
    service.set(instance.instanceId, instance);
    let ids = this.byId.get(instance.instanceId);
    if (!ids) {
      ids = new Set();
      this.byId.set(instance.instanceId, ids);
    }
    ids.add(key);
  }

  private delete(serviceName: string, instanceId: string): void {
    const key = instanceKey(serviceName, instanceId);
    this.byKey.delete(key);
    const service = this.byService.get(serviceName);
    service?.delete(instanceId);
    if (service?.size === 0) this.byService.delete(serviceName);
    const ids = this.byId.get(instanceId);
    ids?.delete(key);
    if (ids?.size === 0) this.byId.delete(instanceId);
  }
}

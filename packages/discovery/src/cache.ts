import type { ChangeReason, Instance, InstanceFilter, ServiceChange } from './model.js';

const NONE: readonly Instance[] = Object.freeze([]);

/** One service's copy: immutable arrays, replaced (never mutated) on every change. */
interface ServiceEntry {
  readonly byId: ReadonlyMap<string, Instance>;
  /** Every instance, ordered by id. */
  readonly all: readonly Instance[];
  /** Instances whose effective status is UP, ordered by id: what balancers pick from. */
  readonly up: readonly Instance[];
}

function entryOf(byId: Map<string, Instance>): ServiceEntry {
  const all = Object.freeze([...byId.values()].sort((a, b) => compare(a.instanceId, b.instanceId)));
  return { byId, all, up: Object.freeze(all.filter((i) => i.status === 'UP')) };
}

/**
 * Whether a snapshot's instance differs from the copy's. Revisions alone are not enough: a
 * restarted memory registry numbers its changes from scratch, so the same revision can be a
 * different registration.
 */
function changed(old: Instance, now: Instance): boolean {
  return (
    old.revision !== now.revision ||
    old.updatedAt !== now.updatedAt ||
    old.registeredAt !== now.registeredAt ||
    old.status !== now.status
  );
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The local copy of the registry that the watch stream fills. Readers get frozen arrays that a
 * change swaps for new ones in one assignment, so a pick never sees a half-applied change and
 * needs no copy or lock.
 */
export class InstanceCache {
  private readonly services = new Map<string, ServiceEntry>();
  private rev = -1;

  constructor(private readonly emit: (change: ServiceChange) => void = () => {}) {}

  /** Revision of the last applied snapshot or change; -1 before the first snapshot. */
  get revision(): number {
    return this.rev;
  }

  /** Names of the services with at least one instance. */
  serviceNames(): string[] {
    return [...this.services.keys()].sort();
  }

  /** UP instances of `service` (no filter), or those matching `filter`. Never copies without a filter. */
  instances(service: string, filter?: InstanceFilter): readonly Instance[] {
    const entry = this.services.get(service);
    if (!entry) return NONE;
    if (!filter) return entry.up;
    const statuses = filter.status ?? ['UP'];
    const base = statuses === 'any' ? entry.all : entry.all.filter((i) => statuses.includes(i.status));
    return base.filter(
      (i) =>
        (filter.zone === undefined || i.zone === filter.zone) &&
        (filter.version === undefined || i.version === filter.version) &&
        (filter.metadata === undefined ||
          Object.entries(filter.metadata).every(([k, v]) => i.metadata[k] === v)),
    );
  }

  /** Replaces the whole copy with a snapshot, emitting one change per service that differs. */
  applySnapshot(revision: number, instances: readonly Instance[]): void {
    const next = new Map<string, Map<string, Instance>>();
    for (const instance of instances) {
      let byId = next.get(instance.service);
      if (!byId) {
        byId = new Map();
        next.set(instance.service, byId);
      }
      byId.set(instance.instanceId, instance);
    }
    this.rev = revision;
    const names = new Set([...this.services.keys(), ...next.keys()]);
    for (const service of names) {
      const before = this.services.get(service)?.byId ?? new Map<string, Instance>();
      const after = next.get(service) ?? new Map<string, Instance>();
      const added: Instance[] = [];
      const updated: Instance[] = [];
      const removed: Instance[] = [];
      for (const [id, instance] of after) {
        const old = before.get(id);
        if (!old) added.push(instance);
        else if (changed(old, instance)) updated.push(instance);
      }
      for (const [id, instance] of before) if (!after.has(id)) removed.push(instance);
      if (added.length + updated.length + removed.length === 0) continue;
      this.replace(service, after);
      this.emit({
        service,
        reason: 'snapshot',
        added,
        updated,
        removed,
        instances: this.services.get(service)?.all ?? NONE,
        revision,
      });
    }
  }

  /** Applies one change of the watch stream. */
  applyChange(revision: number, reason: Exclude<ChangeReason, 'snapshot'>, instance: Instance): void {
    this.rev = Math.max(this.rev, revision);
    const service = instance.service;
    const byId = new Map(this.services.get(service)?.byId);
    const old = byId.get(instance.instanceId);
    const removing = reason === 'deregistered' || reason === 'evicted';
    if (removing) {
      if (!old) return;
      byId.delete(instance.instanceId);
    } else {
      byId.set(instance.instanceId, instance);
    }
    this.replace(service, byId);
    this.emit({
      service,
      reason,
      added: !removing && !old ? [instance] : [],
      updated: !removing && old ? [instance] : [],
      removed: removing ? [old ?? instance] : [],
      instances: this.services.get(service)?.all ?? NONE,
      revision,
    });
  }

  private replace(service: string, byId: Map<string, Instance>): void {
    if (byId.size === 0) this.services.delete(service);
    else this.services.set(service, entryOf(byId));
  }
}

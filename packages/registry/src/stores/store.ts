import type { Change, Instance } from '../model.js';

/**
 * Where the registry keeps its instances. A store is the source of truth and the ordered feed of
 * changes; every registry process keeps a full view in memory fed by that feed, and serves reads
 * and watches from it. Revisions come from the store: a counter (memory), a locked row updated in
 * the same statement as the change (PostgreSQL), or etcd's own mod revision (etcd). They increase
 * strictly in the order the feed delivers changes, but need not be contiguous. A revision means
 * something only within its epoch: the id of one revision history, which a store keeps for as
 * long as its revisions keep counting on from the same past (see `StoreSnapshot.epoch`).
 */
export interface RegistryStore {
  /** `memory`, `postgres`, `etcd`, … */
  readonly kind: string;
  readonly capabilities: StoreCapabilities;

  /**
   * Connects (and migrates) and returns the current state. From then on every change (from this
   * process or another one sharing the store) reaches `listener` in revision order, exactly once.
   */
  open(listener: StoreListener): Promise<StoreSnapshot>;
  /** Flushes what is pending (renewals, the memory snapshot) and disconnects. Idempotent. */
  close(): Promise<void>;

  /** Inserts or replaces `instance`; resolves with the change, whose revision the store assigned. */
  put(instance: Instance, type: 'registered' | 'updated'): Promise<Change>;
  /**
   * Removes an instance; resolves with the change, or undefined when there was nothing to remove.
   * With `expiredAt`, removes only if its lease (as the store knows it) had expired at that time,
   * so an eviction never races a renewal that another registry process accepted.
   */
  remove(
    service: string,
    instanceId: string,
    type: 'deregistered' | 'evicted',
    options?: { expiredAt?: number },
  ): Promise<Change | undefined>;
  /**
   * Records a renewal at `at`. Not a change: no revision, no event. May be batched (PostgreSQL
   * writes renewals once a second). Resolves false when the store knows the instance is gone.
   */
  renew(service: string, instanceId: string, at: number): Promise<boolean>;

  /** Every instance and the revision they are current at. */
  snapshot(): Promise<StoreSnapshot>;
  /**
   * The changes after `revision`, oldest first; undefined when the store no longer has all of
   * them (the caller falls back to a snapshot).
   */
  changesSince(revision: number): Promise<Change[] | undefined>;

  /**
   * Whether this process should run the registry-wide duties now: eviction, health checks,
   * pruning. Several processes sharing a store elect one (PostgreSQL: an advisory lock; etcd: a
   * leader key); a store used by one process always answers true.
   */
  isLeader(): Promise<boolean>;

  /**
   * Keeps the store's own leases of these instances alive, on the registry's behalf. Only stores
   * with `capabilities.leaseExpiry === 'store'` and `holdsLeases` implement it: it is how
   * self-preservation stops the store from expiring instances the registry cannot hear from.
   */
  holdLeases?(instances: readonly Pick<Instance, 'service' | 'instanceId'>[]): Promise<void>;
}

/** What a store can and cannot do; the registry and the README act on these, never silently. */
export interface StoreCapabilities {
  /**
   * Who expires leases. `registry`: the registry's eviction pass removes expired instances, so
   * self-preservation and the per-pass eviction bound apply fully. `store`: the store expires
   * them itself (etcd leases); the registry only observes the deletions.
   */
  readonly leaseExpiry: 'registry' | 'store';
  /** Several registry processes can share the store and see each other's changes. */
  readonly shared: boolean;
  /** Instances survive a restart of every registry process. */
  readonly durable: boolean;
  /** `holdLeases` works: self-preservation can stop store-side expiry. */
  readonly holdsLeases: boolean;
  /** The registry can bound how many instances are evicted per pass. */
  readonly boundedEviction: boolean;
}

/** The state of the store at one revision. */
export interface StoreSnapshot {
  /**
   * Id of the revision history `revision` belongs to: a new one whenever revisions could start
   * over or be reused (a memory store without its snapshot file, a new database or etcd prefix);
   * the same one for every process sharing the store and across restarts on the same data.
   * Watch resume ids carry it, so an id from another history gets a snapshot, not a wrong replay.
   * Letters, digits, `-` and `_` only.
   */
  epoch: string;
  revision: number;
  instances: Instance[];
}

/** What a store tells the registry process that opened it. */
export type StoreEvent =
  /** A change, from this process or another one. */
  | { type: 'change'; change: Change }
  /**
   * Renewals accepted by other registry processes: how many (for the self-preservation rate) and,
   * where the store knows them, which instances and when.
   */
  | { type: 'renewals'; count: number; renewed?: { service: string; instanceId: string; at: number }[] }
  /** The feed broke and the missed changes are gone: this snapshot replaces everything. */
  | { type: 'resync'; snapshot: StoreSnapshot };

export type StoreListener = (event: StoreEvent) => void;

import { type Clock, createLogger, type Logger, newId, systemClock, type TimerHandle } from '@flotilla/core';
import { Etcd3, type IKeyValue, type Lease, type Watcher } from 'etcd3';
import { StoreUnavailableError } from '../errors.js';
import { type Change, type ChangeType, cloneInstance, type Instance } from '../model.js';
import { ChangeRing } from './change-ring.js';
import { KeepAlives } from './etcd-keepalive.js';
import { leaseTtl, parseValue, type StoredValue } from './etcd-keys.js';

export { parseEtcdUrl } from './etcd-keys.js';

import type { RegistryStore, StoreCapabilities, StoreListener, StoreSnapshot } from './store.js';

export interface EtcdStoreOptions {
  /** etcd endpoints, e.g. `http://127.0.0.1:2379`. */
  hosts: string[];
  /** Key prefix of this registry; default `flotilla/registry/`. */
  prefix?: string;
  auth?: { username: string; password: string };
  nodeId?: string;
  /** Changes kept for watch resume; default 10,000. */
  changeLogSize?: number;
  clock?: Clock;
  logger?: Logger;
}

/**
 * Instances in etcd: each instance key is attached to an etcd lease whose TTL is the instance's
 * lease duration, and a renewal is a keepalive of that lease, so etcd itself expires instances
 * (`leaseExpiry: 'store'`). Changes come from one etcd watch over the prefix; revisions are etcd
 * mod revisions. A deregistration writes a marker in the same transaction as the delete, so
 * every process can tell a deregistration from an expiry.
 */
export class EtcdStore implements RegistryStore {
  readonly kind = 'etcd';
  readonly capabilities: StoreCapabilities = {
    leaseExpiry: 'store',
    shared: true,
    durable: true,
    holdsLeases: true,
    boundedEviction: false,
  };
  readonly nodeId: string;
  private readonly etcd: Etcd3;
  private readonly prefix: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly keepAlives: KeepAlives;
  private readonly ring: ChangeRing;
  /** Lease id and TTL of every instance key, from the watch. */
  private readonly leases = new Map<string, { id: string; ttl: number }>();
  private readonly lastKeepAlive = new Map<string, number>();
  private readonly peerRenewals = new Map<string, number>();
  private listener: StoreListener | undefined;
  private watcher: Watcher | undefined;
  private nodeLease: Lease | undefined;
  private revision = 0;
  private epoch = '';
  private renewals = 0;
  private publishedRenewals = 0;
  private publishTimer: TimerHandle | undefined;
  private closed = false;

  constructor(options: EtcdStoreOptions) {
    this.nodeId = options.nodeId ?? newId();
    this.prefix = options.prefix ?? 'flotilla/registry/';
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger({ service: 'registry-etcd' });
    this.etcd = new Etcd3({ hosts: options.hosts, auth: options.auth, dialTimeout: 5_000 });
    this.keepAlives = new KeepAlives(this.etcd);
    this.ring = new ChangeRing(options.changeLogSize ?? 10_000);
  }

  private get instancesPrefix(): string {
    return `${this.prefix}instances/`;
  }

  private keyOf(service: string, instanceId: string): string {
    return `${this.instancesPrefix}${service}/${encodeURIComponent(instanceId)}`;
  }

  async open(listener: StoreListener): Promise<StoreSnapshot> {
    this.listener = listener;
    this.epoch = await this.guard('reading the epoch', () => this.readEpoch());
    const snapshot = await this.guard('reading the registry', () => this.readSnapshot());
    this.ring.reset(snapshot.revision);
    this.nodeLease = this.etcd.lease(10, { autoKeepAlive: true });
    this.nodeLease.on('lost', (error) => this.logger.warn({ err: error }, 'etcd node lease lost'));
    await this.guard('granting the node lease', () => this.nodeLease?.grant() ?? Promise.resolve(''));
    await this.watchFrom(snapshot.revision);
    this.schedulePublish();
    return snapshot;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.publishTimer) this.clock.clearTimeout(this.publishTimer);
    await this.watcher?.cancel().catch(() => {});
    this.keepAlives.close();
    await this.nodeLease?.revoke().catch(() => {});
    this.etcd.close();
  }

  async put(instance: Instance, type: 'registered' | 'updated'): Promise<Change> {
    return this.guard('writing an instance', async () => {
      const key = this.keyOf(instance.service, instance.instanceId);
      const ttl = Math.max(1, Math.ceil(instance.lease.durationMs / 1000));
      let lease = this.leases.get(key);
      let previous: string | undefined;
      if (!lease || lease.ttl !== ttl) {
        previous = lease?.id;
        const granted = await this.etcd.leaseClient.leaseGrant({ TTL: ttl });
        lease = { id: String(granted.ID), ttl };
      }
      const value: StoredValue = { type, instance: { ...instance, revision: 0 } };
      const response = await this.etcd.put(key).value(JSON.stringify(value)).lease(lease.id).exec();
      this.leases.set(key, lease);
      this.lastKeepAlive.set(key, this.clock.now());
      if (previous) this.etcd.leaseClient.leaseRevoke({ ID: previous }).catch(() => {});
      const revision = Number(response.header.revision);
      return { revision, type, at: instance.updatedAt, instance: { ...cloneInstance(instance), revision } };
    });
  }

  async remove(
    service: string,
    instanceId: string,
    type: 'deregistered' | 'evicted',
    options: { expiredAt?: number } = {},
  ): Promise<Change | undefined> {
    return this.guard('removing an instance', async () => {
      const key = this.keyOf(service, instanceId);
      for (let attempt = 0; attempt < 5; attempt++) {
        const found = await this.etcd.get(key).exec();
        const kv = found.kvs[0];
        if (!kv) return undefined;
        if (options.expiredAt !== undefined && kv.lease !== '0') {
          // etcd keeps the lease clock: the instance has expired only once its lease has no time left.
          const ttl = await this.etcd.leaseClient.leaseTimeToLive({ ID: kv.lease });
          if (Number(ttl.TTL) > 0) return undefined;
        }
        const marker = JSON.stringify({ service, instanceId, type });
        const result = await this.etcd
          .if(key, 'Mod', '==', Number(kv.mod_revision))
          .then(
            this.etcd.delete().key(key),
            this.etcd.put(`${this.prefix}removals/${this.nodeId}`).value(marker),
          )
          .commit();
        if (!result.succeeded) continue;
        if (kv.lease !== '0') this.etcd.leaseClient.leaseRevoke({ ID: kv.lease }).catch(() => {});
        const revision = Number(result.header.revision);
        const at = this.clock.now();
        const instance = { ...parseValue(kv).instance, revision, updatedAt: at };
        return { revision, type, at, instance };
      }
      throw new StoreUnavailableError(`instance ${instanceId} kept changing while being removed`);
    });
  }

  async renew(service: string, instanceId: string, at: number): Promise<boolean> {
    const key = this.keyOf(service, instanceId);
    const lease = this.leases.get(key);
    if (!lease) return false;
    const ttl = await this.guard('renewing a lease', () => this.keepAlives.keepAlive(lease.id));
    if (ttl <= 0) return false;
    this.lastKeepAlive.set(key, at);
    this.renewals++;
    return true;
  }

  async snapshot(): Promise<StoreSnapshot> {
    return this.guard('reading the registry', () => this.readSnapshot());
  }

  async changesSince(revision: number): Promise<Change[] | undefined> {
    return this.ring
      .since(revision, this.revision)
      ?.map((c) => ({ ...c, instance: cloneInstance(c.instance) }));
  }

  async isLeader(): Promise<boolean> {
    if (!this.nodeLease || this.closed) return false;
    const key = `${this.prefix}leader`;
    try {
      const leaseId = await this.nodeLease.grant();
      await this.etcd
        .if(key, 'Create', '==', 0)
        .then(this.etcd.put(key).value(this.nodeId).lease(leaseId))
        .commit();
      return (await this.etcd.get(key).string()) === this.nodeId;
    } catch {
      return false;
    }
  }

  async holdLeases(instances: readonly Pick<Instance, 'service' | 'instanceId'>[]): Promise<void> {
    const now = this.clock.now();
    const due: Promise<unknown>[] = [];
    for (const { service, instanceId } of instances) {
      const key = this.keyOf(service, instanceId);
      const lease = this.leases.get(key);
      if (!lease || now - (this.lastKeepAlive.get(key) ?? 0) < (lease.ttl * 1000) / 3) continue;
      this.lastKeepAlive.set(key, now);
      due.push(this.keepAlives.keepAlive(lease.id).catch(() => 0));
    }
    await Promise.all(due);
  }

  /**
   * The id of this data's revision history, created by the first process on the prefix. etcd's
   * revisions survive restarts of etcd and of the registry, but start over on a wiped or new
   * cluster (which can have the same cluster id): the key goes with the data, so a new one
   * means a new history.
   */
  private async readEpoch(): Promise<string> {
    const key = `${this.prefix}epoch`;
    await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(newId())).commit();
    const epoch = await this.etcd.get(key).string();
    if (!epoch) throw new StoreUnavailableError(`etcd key ${key} vanished while being created`);
    return epoch;
  }

  private async readSnapshot(): Promise<StoreSnapshot> {
    const response = await this.etcd.getAll().prefix(this.instancesPrefix).exec();
    const instances: Instance[] = [];
    for (const kv of response.kvs) {
      const value = parseValue(kv);
      this.leases.set(kv.key.toString(), { id: kv.lease, ttl: leaseTtl(value.instance) });
      instances.push({ ...value.instance, revision: Number(kv.mod_revision) });
    }
    this.revision = Number(response.header.revision);
    return { epoch: this.epoch, revision: this.revision, instances };
  }

  private async watchFrom(revision: number): Promise<void> {
    const watcher = await this.etcd
      .watch()
      .prefix(this.prefix)
      .withPreviousKV()
      .startRevision(String(revision + 1))
      .create();
    this.watcher = watcher;
    watcher.on('data', (res) => this.onWatch(res.events, Number(res.header.revision)));
    watcher.on('error', (error) => {
      // Usually "required revision has been compacted": what we missed is gone, start over.
      this.logger.warn({ err: error }, 'etcd watch failed; resynchronising from a snapshot');
      void this.resync();
    });
  }

  private async resync(): Promise<void> {
    if (this.closed) return;
    await this.watcher?.cancel().catch(() => {});
    try {
      const snapshot = await this.readSnapshot();
      this.ring.reset(snapshot.revision);
      this.listener?.({ type: 'resync', snapshot });
      await this.watchFrom(snapshot.revision);
    } catch (error) {
      this.logger.error({ err: error }, 'etcd resync failed; retrying');
      setTimeout(() => void this.resync(), 1_000).unref();
    }
  }

  private onWatch(
    events: { type: 'Put' | 'Delete'; kv: IKeyValue; prev_kv?: IKeyValue }[],
    headerRevision: number,
  ): void {
    const markers = new Map<number, { service: string; instanceId: string; type: ChangeType }[]>();
    for (const event of events) {
      const key = event.kv.key.toString();
      if (event.type === 'Put' && key.startsWith(`${this.prefix}removals/`)) {
        const list = markers.get(Number(event.kv.mod_revision)) ?? [];
        list.push(JSON.parse(event.kv.value.toString()));
        markers.set(Number(event.kv.mod_revision), list);
      }
    }
    for (const event of events) {
      const key = event.kv.key.toString();
      const revision = Number(event.kv.mod_revision);
      if (key.startsWith(this.instancesPrefix)) {
        if (event.type === 'Put') {
          const value = parseValue(event.kv);
          this.leases.set(key, { id: event.kv.lease, ttl: leaseTtl(value.instance) });
          const instance = { ...value.instance, revision };
          this.deliver({ revision, type: value.type, at: instance.updatedAt, instance });
        } else if (event.prev_kv) {
          this.leases.delete(key);
          this.lastKeepAlive.delete(key);
          const last = parseValue(event.prev_kv).instance;
          const marker = markers
            .get(revision)
            ?.find((m) => m.service === last.service && m.instanceId === last.instanceId);
          // No marker in the same revision: etcd deleted the key because its lease expired.
          const type: ChangeType = marker?.type ?? 'evicted';
          const at = this.clock.now();
          this.deliver({ revision, type, at, instance: { ...last, revision, updatedAt: at } });
        }
      } else if (key.startsWith(`${this.prefix}nodes/`) && event.type === 'Put') {
        const node = key.slice(`${this.prefix}nodes/`.length).split('/')[0] ?? '';
        const total = Number(event.kv.value.toString());
        const before = this.peerRenewals.get(node);
        this.peerRenewals.set(node, total);
        if (node !== this.nodeId && before !== undefined && total > before) {
          this.listener?.({ type: 'renewals', count: total - before });
        }
      }
    }
    this.revision = Math.max(this.revision, headerRevision);
  }

  private deliver(change: Change): void {
    if (change.revision <= this.ring.latest) return;
    this.ring.push(change);
    this.revision = Math.max(this.revision, change.revision);
    this.listener?.({ type: 'change', change: { ...change, instance: cloneInstance(change.instance) } });
  }

  /** Publishes this process's renewal count, so every process sees the registry-wide rate. */
  private schedulePublish(): void {
    if (this.closed) return;
    this.publishTimer = this.clock.setTimeout(() => {
      const total = this.renewals;
      const publish =
        total === this.publishedRenewals || !this.nodeLease
          ? Promise.resolve()
          : this.nodeLease
              .put(`${this.prefix}nodes/${this.nodeId}/renewals`)
              .value(String(total))
              .exec()
              .then(() => {
                this.publishedRenewals = total;
              });
      publish
        .catch((error) => this.logger.warn({ err: error }, 'publishing renewal count failed'))
        .finally(() => this.schedulePublish());
    }, 1_000);
  }

  private async guard<T>(what: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      throw new StoreUnavailableError(`etcd registry store failed ${what}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}

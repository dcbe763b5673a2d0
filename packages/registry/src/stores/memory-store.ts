import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  type Clock,
  ConfigurationError,
  type Logger,
  newId,
  systemClock,
  type TimerHandle,
} from '@flotilla/core';
import { type Change, cloneInstance, type Instance, instanceKey, leaseExpiresAt } from '../model.js';
import { ChangeRing } from './change-ring.js';
import type { RegistryStore, StoreCapabilities, StoreListener, StoreSnapshot } from './store.js';

/** Options of `MemoryStore`. */
export interface MemoryStoreOptions {
  /** JSON file the state is saved to and restored from across restarts (embedded mode); none by default. */
  snapshotPath?: string;
  /** How often a changed state is saved; default 5 s. It is always saved on `close()`. */
  snapshotIntervalMs?: number;
  /** Changes kept for `changesSince` (watch resume); default 10,000. */
  changeLogSize?: number;
  clock?: Clock;
  logger?: Logger;
}

interface SnapshotFile {
  format: 'flotilla-registry-snapshot';
  version: 1;
  revision: number;
  /** Absent in files written before epochs existed: those start a new one. */
  epoch?: string;
  /**
   * Written by `close()`: the file holds every change of its epoch. A file saved periodically may
   * miss the last changes before a crash, whose revisions the restored store would then reuse.
   */
  final?: boolean;
  savedAt: number;
  instances: Instance[];
}

/**
 * The registry in this process's memory: one registry process, revisions from a counter,
 * optionally saved to a JSON file so an embedded registry comes back with its instances. Every
 * start is a new epoch (the counter starts again), except a restore from a file saved at a clean
 * shutdown, which continues its epoch.
 */
export class MemoryStore implements RegistryStore {
  readonly kind = 'memory';
  readonly capabilities: StoreCapabilities;
  private readonly instances = new Map<string, Instance>();
  private readonly ring: ChangeRing;
  private readonly clock: Clock;
  private revision = 0;
  private epoch = newId();
  private listener: StoreListener | undefined;
  private dirty = false;
  private timer: TimerHandle | undefined;
  private saving: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly options: MemoryStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
    const size = options.changeLogSize ?? 10_000;
    if (!Number.isInteger(size) || size < 1) {
      throw new ConfigurationError(`MemoryStore changeLogSize should be a positive integer, got ${size}`);
    }
    this.ring = new ChangeRing(size);
    this.capabilities = {
      leaseExpiry: 'registry',
      shared: false,
      durable: options.snapshotPath !== undefined,
      holdsLeases: false,
      boundedEviction: true,
    };
  }

  async open(listener: StoreListener): Promise<StoreSnapshot> {
    this.listener = listener;
    if (this.options.snapshotPath !== undefined) await this.load(this.options.snapshotPath);
    return this.snapshot();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.listener = undefined;
    if (this.options.snapshotPath !== undefined) await this.save(true);
  }

  async put(instance: Instance, type: 'registered' | 'updated'): Promise<Change> {
    const stored = cloneInstance(instance);
    stored.revision = ++this.revision;
    this.instances.set(instanceKey(stored.service, stored.instanceId), stored);
    return this.emit({ revision: stored.revision, type, at: stored.updatedAt, instance: stored });
  }

  async remove(
    service: string,
    instanceId: string,
    type: 'deregistered' | 'evicted',
    options: { expiredAt?: number } = {},
  ): Promise<Change | undefined> {
    const key = instanceKey(service, instanceId);
    const current = this.instances.get(key);
    if (!current) return undefined;
    if (options.expiredAt !== undefined && leaseExpiresAt(current) >= options.expiredAt) return undefined;
    this.instances.delete(key);
    const at = this.clock.now();
    const last = { ...cloneInstance(current), revision: ++this.revision, updatedAt: at };
    return this.emit({ revision: last.revision, type, at, instance: last });
  }

  async renew(service: string, instanceId: string, at: number): Promise<boolean> {
    const current = this.instances.get(instanceKey(service, instanceId));
    if (!current) return false;
    if (at > current.lastRenewedAt) current.lastRenewedAt = at;
    return true;
  }

  async snapshot(): Promise<StoreSnapshot> {
    return {
      epoch: this.epoch,
      revision: this.revision,
      instances: [...this.instances.values()].map(cloneInstance),
    };
  }

  async changesSince(revision: number): Promise<Change[] | undefined> {
    return this.ring
      .since(revision, this.revision)
      ?.map((c) => ({ ...c, instance: cloneInstance(c.instance) }));
  }

  async isLeader(): Promise<boolean> {
    return true;
  }

  private emit(live: Change): Change {
    // The map's object keeps changing with renewals; the log keeps the state of the change.
    const change = { ...live, instance: cloneInstance(live.instance) };
    this.ring.push(change);
    this.markDirty();
    const copy = { ...change, instance: cloneInstance(change.instance) };
    this.listener?.({ type: 'change', change: copy });
    return { ...change, instance: cloneInstance(change.instance) };
  }

  private markDirty(): void {
    if (this.options.snapshotPath === undefined || this.closed) return;
    this.dirty = true;
    this.timer ??= this.clock.setTimeout(() => {
      this.timer = undefined;
      this.save().catch((error) => this.options.logger?.error({ err: error }, 'registry snapshot failed'));
    }, this.options.snapshotIntervalMs ?? 5_000);
  }

  /** Writes the snapshot file atomically (temporary file, then rename); `final` at shutdown. */
  private save(final = false): Promise<void> {
    const path = this.options.snapshotPath;
    if (path === undefined) return Promise.resolve();
    this.saving = this.saving.then(async () => {
      if (!this.dirty && !final) return;
      this.dirty = false;
      const doc: SnapshotFile = {
        format: 'flotilla-registry-snapshot',
        version: 1,
        revision: this.revision,
        epoch: this.epoch,
        final,
        savedAt: this.clock.now(),
        instances: [...this.instances.values()],
      };
      await mkdir(dirname(path), { recursive: true });
      const temp = `${path}.${process.pid}.tmp`;
      await writeFile(temp, JSON.stringify(doc));
      await rename(temp, path);
    });
    return this.saving;
  }

  private async load(path: string): Promise<void> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    let doc: SnapshotFile;
    try {
      doc = JSON.parse(text) as SnapshotFile;
    } catch (error) {
      throw new ConfigurationError(
        `Registry snapshot ${path} is not valid JSON; move it away to start empty`,
        {
          cause: error,
          data: { field: 'snapshotPath', value: path },
        },
      );
    }
    if (doc.format !== 'flotilla-registry-snapshot' || !Array.isArray(doc.instances)) {
      throw new ConfigurationError(`Registry snapshot ${path} is not a Flotilla registry snapshot`, {
        data: { field: 'snapshotPath', value: path },
      });
    }
    // Instances get a fresh lease from the restart: they could not renew while we were down,
    // and each will either renew within its lease or be evicted then.
    const now = this.clock.now();
    for (const instance of doc.instances) {
      this.instances.set(instanceKey(instance.service, instance.instanceId), {
        ...instance,
        lastRenewedAt: now,
      });
    }
    this.revision = Number.isSafeInteger(doc.revision) ? doc.revision : 0;
    this.ring.reset(this.revision);
    if (doc.final === true && typeof doc.epoch === 'string' && /^[\w-]{1,100}$/.test(doc.epoch)) {
      this.epoch = doc.epoch;
      // From now on the file no longer holds every change of this epoch, until the next close:
      // mark it so at once, or a crash before the next periodic save would reuse revisions.
      this.dirty = true;
      await this.save();
    }
    this.options.logger?.info(
      { path, instances: doc.instances.length, revision: this.revision, epoch: this.epoch },
      'registry snapshot loaded',
    );
  }
}

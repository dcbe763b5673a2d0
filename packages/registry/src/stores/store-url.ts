import { type Clock, ConfigurationError, type Logger } from '@flotilla/core';
import { MemoryStore } from './memory-store.js';
import type { RegistryStore } from './store.js';

/** Options every store factory may use. */
export interface StoreFromUrlOptions {
  /** Memory store: file to save to and restore from. */
  snapshotPath?: string;
  /** Name of this registry process (PostgreSQL notifications, etcd keys). */
  nodeId?: string;
  clock?: Clock;
  logger?: Logger;
}

/**
 * The store a `--store` value names: `memory`, `postgres://…` (or `postgresql://…`), or
 * `etcd://host:port[,host:port…][/prefix]`. Drivers load only for the store chosen, so a memory
 * registry never loads pg or etcd3.
 */
export async function storeFromUrl(url: string, options: StoreFromUrlOptions = {}): Promise<RegistryStore> {
  if (url === 'memory' || url === 'memory://') {
    return new MemoryStore({
      snapshotPath: options.snapshotPath,
      clock: options.clock,
      logger: options.logger,
    });
  }
  const scheme = /^([a-z0-9+]+):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (options.snapshotPath !== undefined) {
    throw new ConfigurationError('--snapshot applies to the memory store only', {
      data: { field: 'snapshot', value: options.snapshotPath },
    });
  }
  if (scheme === 'postgres' || scheme === 'postgresql') {
    const { PostgresStore } = await import('./postgres-store.js');
    return new PostgresStore({ url, nodeId: options.nodeId, clock: options.clock, logger: options.logger });
  }
  if (scheme === 'etcd') {
    const { EtcdStore, parseEtcdUrl } = await import('./etcd-store.js');
    return new EtcdStore({
      ...parseEtcdUrl(url),
      nodeId: options.nodeId,
      clock: options.clock,
      logger: options.logger,
    });
  }
  throw new ConfigurationError(
    `--store should be memory, postgres://… or etcd://…, got "${url.replace(/\/\/[^@/]*@/, '//***@')}"`,
    { data: { field: 'store' } },
  );
}

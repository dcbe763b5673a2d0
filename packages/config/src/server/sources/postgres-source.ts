import type { Logger } from '@flotilla/core';
import type pg from 'pg';
import { type ConfigTree, deepFreeze, expandDottedKeys, isTree, leaves, setPath } from '../../flatten.js';
import { layerName } from '../../names.js';
import { NOTIFY_CHANNEL, type PostgresStore, type StoredValue } from './postgres-store.js';
import {
  type ConfigDocument,
  type ConfigSource,
  type DocumentOrigin,
  type Scope,
  SourceSnapshot,
} from './source.js';

export interface PostgresSourceOptions {
  store: PostgresStore;
  logger?: Logger;
  /** Delay before reconnecting the LISTEN connection after it broke; default 1 s. */
  reconnectDelayMs?: number;
}

/**
 * Config from the PostgreSQL store. It loads the current values into a snapshot and keeps a
 * connection that LISTENs for the store's notifications, so a change written by any config
 * server replica reaches every replica; after a lost connection it reloads everything.
 */
export class PostgresSource implements ConfigSource {
  readonly kind = 'postgres' as const;
  readonly description = 'postgres store';
  private current = SourceSnapshot.empty;
  private loadedJson = '';
  private readonly listeners = new Set<() => void>();
  private listenClient: pg.PoolClient | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly options: PostgresSourceOptions) {}

  get store(): PostgresStore {
    return this.options.store;
  }

  async start(): Promise<void> {
    await this.listen();
    await this.refresh();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    const client = this.listenClient;
    this.listenClient = undefined;
    if (client) {
      await client.query(`UNLISTEN ${NOTIFY_CHANNEL}`).catch(() => {});
      client.release();
    }
    await this.loading;
  }

  snapshot(): SourceSnapshot {
    return this.current;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reloads the values; concurrent calls coalesce into at most one more load. */
  refresh(): Promise<void> {
    if (this.loading) {
      this.again = true;
      return this.loading;
    }
    this.loading = (async () => {
      do {
        this.again = false;
        await this.load();
      } while (this.again && !this.closed);
    })().finally(() => {
      this.loading = undefined;
    });
    return this.loading;
  }

  private async load(): Promise<void> {
    const values = await this.options.store.values();
    const json = JSON.stringify(values);
    if (json === this.loadedJson) return;
    this.loadedJson = json;
    this.current = buildSnapshot(values);
    for (const listener of this.listeners) listener();
  }

  private async listen(): Promise<void> {
    const client = await this.options.store.pool.connect();
    client.on('notification', () => {
      void this.refresh().catch((error: unknown) => {
        this.options.logger?.warn({ err: error }, 'reloading the config store failed');
      });
    });
    client.on('error', (error) => {
      this.options.logger?.warn({ err: error }, 'config store LISTEN connection lost; reconnecting');
      if (this.listenClient === client) {
        this.listenClient = undefined;
        client.release(error);
        this.scheduleReconnect();
      }
    });
    await client.query(`LISTEN ${NOTIFY_CHANNEL}`);
    this.listenClient = client;
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    this.reconnectTimer = setTimeout(() => {
      this.listen()
        .then(() => this.refresh())
        .catch((error: unknown) => {
          this.options.logger?.warn({ err: error }, 'config store reconnect failed; retrying');
          this.scheduleReconnect();
        });
    }, this.options.reconnectDelayMs ?? 1_000);
    this.reconnectTimer.unref();
  }
}

/** Groups stored values into one document per (service, env, versions). */
export function buildSnapshot(values: readonly StoredValue[]): SourceSnapshot {
  const groups = new Map<string, StoredValue[]>();
  for (const v of values) {
    const id = `${v.service}\n${v.env ?? ''}\n${v.versions ?? ''}`;
    const list = groups.get(id) ?? [];
    list.push(v);
    groups.set(id, list);
  }
  const documents: ConfigDocument[] = [];
  const scopes = new Map<string, Scope>();
  for (const rows of groups.values()) {
    const { service, env, versions } = rows[0] as StoredValue;
    scopes.set(`${service}\n${env ?? ''}`, { service, env });
    // Parents before children, so `db.pool.size` refines a `db` object written as a whole.
    rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    const data: ConfigTree = {};
    const origins = new Map<string, DocumentOrigin>();
    for (const row of rows) {
      const value = expandDottedKeys(row.value);
      setPath(data, row.key.split('.'), value);
      origins.set(row.key, { revision: row.revision });
      if (isTree(value))
        for (const leaf of leaves(value, row.key).keys()) origins.set(leaf, { revision: row.revision });
    }
    const scopeName = env === null ? service : `${service}/${env}`;
    documents.push(
      deepFreeze({
        name: `postgres:${scopeName}${versions === null ? '' : `@${versions}`}`,
        kind: 'postgres' as const,
        layer: layerName(service, env),
        versions,
        data,
        origins,
      }),
    );
  }
  const sorted = [...scopes.values()].sort((a, b) =>
    a.service === b.service ? (a.env ?? '').localeCompare(b.env ?? '') : a.service.localeCompare(b.service),
  );
  return new SourceSnapshot(documents, sorted);
}

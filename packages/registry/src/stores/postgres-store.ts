import { type Clock, createLogger, type Logger, newId, systemClock, type TimerHandle } from '@flotilla/core';
import { createPool, migrate, redactUrl } from '@flotilla/postgres';
import type pg from 'pg';
import { StoreUnavailableError } from '../errors.js';
import type { Change, ChangeType, Instance } from '../model.js';
import { PostgresListener } from './postgres-listener.js';
import {
  CHANGES_SINCE_SQL,
  FLUSH_RENEWALS_SQL,
  PRUNE_SQL,
  PUT_SQL,
  REMOVE_SQL,
  RENEWAL_OF_SQL,
  SNAPSHOT_SQL,
  STATE_SQL,
} from './postgres-sql.js';
import type { RegistryStore, StoreCapabilities, StoreListener, StoreSnapshot } from './store.js';

export interface PostgresStoreOptions {
  /** Database URL (`postgres://…`); the registry's tables are created there by migration. */
  url: string;
  /** Name of this registry process in notifications; default a new id. */
  nodeId?: string;
  /** Renewals are written in one batch this often; default 1 s. */
  renewalFlushMs?: number;
  /** Changes older than this are pruned from the change log (watch resume); default 15 min. */
  changeRetentionMs?: number;
  /** Connections in the pool; default 5. */
  poolSize?: number;
  clock?: Clock;
  logger?: Logger;
}

type ChangeRow = { revision: string; type: ChangeType; at: string; instance: Instance };

/** Postgres errors that mean "run the statement again" (deadlock, serialization failure). */
const RETRYABLE = new Set(['40P01', '40001']);

/**
 * Instances in PostgreSQL, shared by any number of registry processes. Every change is written
 * and NOTIFYed in one statement; each process LISTENs and applies changes in revision order,
 * catching up from the change log after a lost connection. Renewals are batched once a second.
 * One process at a time (holder of an advisory lock) evicts and probes; evictions are conditional
 * on the stored renewal time, so they never remove an instance another process just renewed.
 */
export class PostgresStore implements RegistryStore {
  readonly kind = 'postgres';
  readonly capabilities: StoreCapabilities = {
    leaseExpiry: 'registry',
    shared: true,
    durable: true,
    holdsLeases: false,
    boundedEviction: true,
  };
  readonly nodeId: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private pool: pg.Pool | undefined;
  private listener: PostgresListener | undefined;
  private pending = new Map<string, { service: string; instanceId: string; at: number }>();
  private pendingCount = 0;
  private flushTimer: TimerHandle | undefined;
  private flushing: Promise<void> = Promise.resolve();
  private lastPrune = 0;
  private emit: StoreListener | undefined;
  private closed = false;

  constructor(private readonly options: PostgresStoreOptions) {
    this.nodeId = options.nodeId ?? newId();
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? createLogger({ service: 'registry-postgres' });
  }

  async open(listener: StoreListener): Promise<StoreSnapshot> {
    this.emit = listener;
    const pool = createPool({ url: this.options.url, max: this.options.poolSize ?? 5, logger: this.logger });
    this.pool = pool;
    try {
      await migrate({
        pool,
        dir: new URL('../../migrations', import.meta.url),
        namespace: 'registry',
        logger: this.logger,
      });
    } catch (error) {
      await pool.end().catch(() => {});
      throw this.wrap(error, 'migrating the registry tables');
    }
    this.listener = new PostgresListener({
      url: this.options.url,
      nodeId: this.nodeId,
      logger: this.logger,
      emit: listener,
      query: (sql, params) => this.query(sql, params),
      snapshot: () => this.snapshot(),
    });
    // Listen before reading the snapshot, so no change falls between the two.
    await this.listener.start();
    const snapshot = await this.snapshot();
    await this.listener.primed(snapshot.revision);
    this.scheduleFlush();
    return snapshot;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.flushTimer) this.clock.clearTimeout(this.flushTimer);
    await this.flush().catch((error) => this.logger.warn({ err: error }, 'last renewal flush failed'));
    await this.listener?.stop();
    await this.pool?.end().catch(() => {});
  }

  async put(instance: Instance, type: 'registered' | 'updated'): Promise<Change> {
    const rows = await this.query<{ revision: string; instance: Instance }>(PUT_SQL, [
      instance.service,
      instance.instanceId,
      JSON.stringify(instance),
      instance.lastRenewedAt,
      instance.lease.durationMs,
      type,
      instance.updatedAt,
      this.nodeId,
    ]);
    const row = rows[0];
    if (!row) throw new StoreUnavailableError('registry write returned no row');
    return { revision: Number(row.revision), type, at: instance.updatedAt, instance: row.instance };
  }

  async remove(
    service: string,
    instanceId: string,
    type: 'deregistered' | 'evicted',
    options: { expiredAt?: number } = {},
  ): Promise<Change | undefined> {
    // An eviction must see the renewals this process has accepted but not yet written.
    if (options.expiredAt !== undefined) await this.flush();
    const at = this.clock.now();
    const rows = await this.query<{ revision: string; instance: Instance }>(REMOVE_SQL, [
      service,
      instanceId,
      options.expiredAt ?? null,
      type,
      at,
      this.nodeId,
    ]);
    const row = rows[0];
    if (!row && options.expiredAt !== undefined) await this.refreshRenewal(service, instanceId);
    return row && { revision: Number(row.revision), type, at, instance: row.instance };
  }

  /**
   * An eviction found the instance renewed after all (by another process, whose renewal this
   * process had not read yet): tell the view, so it stops considering it expired.
   */
  private async refreshRenewal(service: string, instanceId: string): Promise<void> {
    const [row] = await this.query<{ last_renewed_at: string }>(RENEWAL_OF_SQL, [service, instanceId]);
    if (row)
      this.emit?.({
        type: 'renewals',
        count: 0,
        renewed: [{ service, instanceId, at: Number(row.last_renewed_at) }],
      });
  }

  async renew(service: string, instanceId: string, at: number): Promise<boolean> {
    this.pending.set(`${service}\u0000${instanceId}`, { service, instanceId, at });
    this.pendingCount++;
    return true;
  }

  async snapshot(): Promise<StoreSnapshot> {
    const client = await this.connect();
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const state = await client.query<{ epoch: string; revision: string }>(STATE_SQL);
      const rows = await client.query<{ instance: Instance }>(SNAPSHOT_SQL);
      await client.query('COMMIT');
      const [row] = state.rows;
      if (!row) throw new StoreUnavailableError('registry_state has no row (migration 0001 not applied?)');
      return {
        epoch: row.epoch,
        revision: Number(row.revision),
        instances: rows.rows.map((r) => r.instance),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.wrap(error, 'reading the registry snapshot');
    } finally {
      client.release();
    }
  }

  async changesSince(revision: number): Promise<Change[] | undefined> {
    const [state] = await this.query<{ revision: string; pruned_through: string }>(STATE_SQL);
    if (!state || revision < Number(state.pruned_through) || revision > Number(state.revision))
      return undefined;
    const rows = await this.query<ChangeRow>(CHANGES_SINCE_SQL, [revision]);
    return rows.map(toChange);
  }

  async isLeader(): Promise<boolean> {
    const leader = (await this.listener?.tryLead()) ?? false;
    if (leader && this.clock.now() - this.lastPrune > 60_000) {
      this.lastPrune = this.clock.now();
      const cutoff = this.clock.now() - (this.options.changeRetentionMs ?? 15 * 60_000);
      await this.query(PRUNE_SQL, [cutoff]).catch((error) =>
        this.logger.warn({ err: error }, 'pruning the registry change log failed'),
      );
    }
    return leader;
  }

  /** Writes the renewals accepted since the last flush in one statement. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.size === 0) return;
      const batch = [...this.pending.values()];
      const count = this.pendingCount;
      this.pending = new Map();
      this.pendingCount = 0;
      try {
        await this.query(FLUSH_RENEWALS_SQL, [
          batch.map((r) => r.service),
          batch.map((r) => r.instanceId),
          batch.map((r) => r.at),
          this.nodeId,
          count,
        ]);
      } catch (error) {
        // Keep them for the next flush (newer renewals of the same instance win).
        for (const r of batch) {
          const key = `${r.service}\u0000${r.instanceId}`;
          if (!this.pending.has(key)) this.pending.set(key, r);
        }
        this.pendingCount += count;
        throw error;
      }
    });
    return this.flushing;
  }

  private scheduleFlush(): void {
    if (this.closed) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flush()
        .catch((error) => this.logger.warn({ err: error }, 'writing renewals failed; retrying'))
        .finally(() => this.scheduleFlush());
    }, this.options.renewalFlushMs ?? 1_000);
  }

  private async connect(): Promise<pg.PoolClient> {
    if (!this.pool) throw new StoreUnavailableError('PostgreSQL store is not open');
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.wrap(error, 'connecting');
    }
  }

  private async query<R extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<R[]> {
    if (!this.pool) throw new StoreUnavailableError('PostgreSQL store is not open');
    for (let attempt = 1; ; attempt++) {
      try {
        return (await this.pool.query<R>(sql, params)).rows;
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code !== undefined && RETRYABLE.has(code) && attempt < 5) continue;
        throw this.wrap(error, `query ${sql.trim().split('\n')[0]}`);
      }
    }
  }

  private wrap(error: unknown, what: string): StoreUnavailableError {
    const e = error as { message?: string; code?: string };
    return new StoreUnavailableError(
      `PostgreSQL registry store at ${redactUrl(this.options.url)} failed ${what}: ${e.message ?? String(error)}`,
      { cause: error, data: { pgCode: e.code } },
    );
  }
}

export function toChange(row: ChangeRow): Change {
  return { revision: Number(row.revision), type: row.type, at: Number(row.at), instance: row.instance };
}

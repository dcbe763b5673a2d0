import type { Logger } from '@flotilla/core';
import pg from 'pg';
import type { Change, ChangeType, Instance } from '../model.js';
import {
  CHANGE_AT_SQL,
  CHANGES_CHANNEL,
  CHANGES_SINCE_SQL,
  MAX_RENEWAL_SEQ_SQL,
  RENEWALS_CHANNEL,
  RENEWED_SINCE_SQL,
  STATE_SQL,
  TRY_LEAD_SQL,
} from './postgres-sql.js';
import type { StoreListener, StoreSnapshot } from './store.js';

interface ListenerOptions {
  url: string;
  nodeId: string;
  logger: Logger;
  emit: StoreListener;
  query: <R extends pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<R[]>;
  snapshot: () => Promise<StoreSnapshot>;
}

type ChangeRow = { revision: string; type: ChangeType; at: string; instance: Instance };

/**
 * The PostgreSQL store's dedicated connection: LISTENs for changes and renewals, and holds the
 * leader advisory lock (a session lock, so a lost connection releases leadership by itself).
 * Notifications are handled one at a time, in arrival (= commit = revision) order. After a
 * reconnect it catches up from the change log, or resyncs from a snapshot if that was pruned.
 */
export class PostgresListener {
  private client: pg.Client | undefined;
  private lastRevision = 0;
  private renewalSeq = 0;
  private queue: Promise<void>;
  private release!: () => void;
  private leader = false;
  private stopped = false;
  private reconnectDelay = 100;
  private fetchingRenewals: Promise<void> | undefined;
  private renewalsAgain = false;

  constructor(private readonly options: ListenerOptions) {
    // Nothing is handled before `primed` says which revision the snapshot covers.
    this.queue = new Promise((resolve) => {
      this.release = resolve;
    });
  }

  async start(): Promise<void> {
    await this.connect();
  }

  /** The snapshot read after LISTEN covers up to `revision`: handle what arrived after it. */
  async primed(revision: number): Promise<void> {
    this.lastRevision = Math.max(this.lastRevision, revision);
    const [row] = await this.options.query<{ seq: string }>(MAX_RENEWAL_SEQ_SQL);
    this.renewalSeq = Number(row?.seq ?? 0);
    this.release();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.leader = false;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  /** Takes (or confirms) the leader lock on this connection. */
  async tryLead(): Promise<boolean> {
    const client = this.client;
    if (!client) return false;
    if (this.leader) return true;
    try {
      const result = await client.query<{ leader: boolean }>(TRY_LEAD_SQL);
      this.leader = result.rows[0]?.leader === true && this.client === client;
      if (this.leader)
        this.options.logger.info({ node: this.options.nodeId }, 'this registry process now leads');
    } catch {
      this.leader = false;
    }
    return this.leader;
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.url,
      // Named after the node, so an operator can tell the feeds of the replicas apart.
      application_name: `flotilla-registry-${this.options.nodeId}`.slice(0, 63),
    });
    client.on('error', (error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (message) => {
      const { channel, payload } = message;
      this.enqueue(() => this.onNotification(channel, payload ?? ''));
    });
    await client.connect();
    await client.query(`LISTEN ${CHANGES_CHANNEL}`);
    await client.query(`LISTEN ${RENEWALS_CHANNEL}`);
    this.client = client;
    this.reconnectDelay = 100;
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client || this.stopped) return;
    this.client = undefined;
    if (this.leader) this.options.logger.warn('registry leader connection lost: leadership released');
    this.leader = false;
    this.options.logger.warn({ err: error }, 'registry change feed connection lost; reconnecting');
    client.end().catch(() => {});
    this.reconnect();
  }

  private reconnect(): void {
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5_000);
    setTimeout(() => {
      if (this.stopped) return;
      this.connect()
        .then(() => this.enqueue(() => this.catchUp()))
        .catch((error) => {
          this.options.logger.warn({ err: error }, 'registry change feed reconnect failed');
          this.reconnect();
        });
    }, delay).unref();
  }

  private enqueue(task: () => Promise<void>): void {
    this.queue = this.queue
      .then(task)
      .catch((error) => this.options.logger.error({ err: error }, 'registry change feed handling failed'));
  }

  /** After a reconnect: replay the missed changes from the log, or resync from a snapshot. */
  private async catchUp(): Promise<void> {
    const [state] = await this.options.query<{ revision: string; pruned_through: string }>(STATE_SQL);
    if (state && this.lastRevision >= Number(state.pruned_through)) {
      const rows = await this.options.query<ChangeRow>(CHANGES_SINCE_SQL, [this.lastRevision]);
      for (const row of rows) this.deliver(toChange(row));
    } else {
      const snapshot = await this.options.snapshot();
      this.lastRevision = snapshot.revision;
      this.options.emit({ type: 'resync', snapshot });
    }
    this.fetchRenewals();
  }

  private async onNotification(channel: string, payload: string): Promise<void> {
    let message: { node?: string; change?: Change; revision?: number; truncated?: boolean; count?: number };
    try {
      message = JSON.parse(payload);
    } catch {
      return;
    }
    if (channel === CHANGES_CHANNEL) {
      if (message.change) {
        this.deliver(message.change);
      } else if (
        message.truncated &&
        typeof message.revision === 'number' &&
        message.revision > this.lastRevision
      ) {
        const [row] = await this.options.query<ChangeRow>(CHANGE_AT_SQL, [message.revision]);
        if (row) this.deliver(toChange(row));
      }
    } else if (channel === RENEWALS_CHANNEL && message.node !== this.options.nodeId) {
      this.options.emit({ type: 'renewals', count: Number(message.count ?? 0) });
      this.fetchRenewals();
    }
  }

  private deliver(change: Change): void {
    if (change.revision <= this.lastRevision) return;
    this.lastRevision = change.revision;
    this.options.emit({ type: 'change', change });
  }

  /** Reads the renewal times other processes wrote, coalescing bursts of notifications. */
  private fetchRenewals(): void {
    if (this.fetchingRenewals) {
      this.renewalsAgain = true;
      return;
    }
    this.fetchingRenewals = (async () => {
      do {
        this.renewalsAgain = false;
        const rows = await this.options.query<{
          service: string;
          instance_id: string;
          last_renewed_at: string;
          renewal_seq: string;
        }>(RENEWED_SINCE_SQL, [this.renewalSeq]);
        const last = rows[rows.length - 1];
        if (last) this.renewalSeq = Number(last.renewal_seq);
        const renewed = rows.map((r) => ({
          service: r.service,
          instanceId: r.instance_id,
          at: Number(r.last_renewed_at),
        }));
        if (renewed.length > 0) this.options.emit({ type: 'renewals', count: 0, renewed });
      } while (this.renewalsAgain && !this.stopped);
    })()
      .catch((error) => this.options.logger.warn({ err: error }, 'reading renewals failed'))
      .finally(() => {
        this.fetchingRenewals = undefined;
      });
  }
}

function toChange(row: ChangeRow): Change {
  return { revision: Number(row.revision), type: row.type, at: Number(row.at), instance: row.instance };
}

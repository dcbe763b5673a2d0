import { createHash } from 'node:crypto';
import { type Clock, createLogger, type Logger, sleep, systemClock } from '@flotilla/core';
import type { Notification, Pool, PoolClient } from 'pg';
import type { TransportMessage } from '../adapter.js';
import { assertInteger } from '../names.js';
import { type BacklogTracking, trackOutboxBacklog } from './backlog.js';
import { OUTBOX_CHANNEL } from './outbox.js';
import { deletePublished, relayBatch } from './relay-batch.js';

/** Options of `startOutboxRelay`. */
export interface OutboxRelayOptions {
  /** The service's database (where `flotilla_outbox` lives). The relay keeps one connection of it. */
  pool: Pool;
  /** Publishes to the broker, resolving after it confirmed: `bus.forward` (bound) or an adapter's `publish`. */
  publish: (messages: readonly TransportMessage[]) => Promise<void>;
  /** Rows per publish; default 100. */
  batchSize?: number;
  /** Fallback poll when no NOTIFY arrives; default 1000 ms. */
  pollIntervalMs?: number;
  /** How often a standby relay tries to become the active one; default 2000 ms. */
  standbyRetryMs?: number;
  /** Published rows are kept this long, then deleted; 0 deletes on publish. Default 10 minutes. */
  retainPublishedMs?: number;
  /** How often published rows past retention are deleted; default 60 s. */
  cleanupIntervalMs?: number;
  logger?: Logger;
  clock?: Clock;
}

/** Advisory lock key shared by every relay of one database's outbox. */
const LOCK_KEY = createHash('sha256').update('flotilla_outbox relay').digest().readBigInt64BE(0).toString();

/**
 * The outbox relay: publishes committed outbox rows in order and marks them after the broker
 * confirmed. Run one per service instance; a session advisory lock makes exactly one of them
 * active per database, and a standby takes over when the active one's connection ends (a crash
 * included). A takeover in the middle of a batch publishes that batch twice, never zero times.
 */
export class OutboxRelay {
  private readonly options: Required<Omit<OutboxRelayOptions, 'logger' | 'clock'>>;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private client: PoolClient | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private abort = new AbortController();
  private lastCleanup = 0;
  private backlog: BacklogTracking | undefined;

  constructor(options: OutboxRelayOptions) {
    this.options = {
      pool: options.pool,
      publish: options.publish,
      batchSize: assertInteger('batchSize', options.batchSize ?? 100, 1, 10_000),
      pollIntervalMs: assertInteger('pollIntervalMs', options.pollIntervalMs ?? 1000, 1),
      standbyRetryMs: assertInteger('standbyRetryMs', options.standbyRetryMs ?? 2000, 1),
      retainPublishedMs: assertInteger('retainPublishedMs', options.retainPublishedMs ?? 600_000, 0),
      cleanupIntervalMs: assertInteger('cleanupIntervalMs', options.cleanupIntervalMs ?? 60_000, 1),
    };
    this.logger = (options.logger ?? createLogger({ service: 'outbox-relay' })).child({
      component: 'outbox-relay',
    });
    this.clock = options.clock ?? systemClock;
  }

  /** True while this relay holds the lock. */
  get active(): boolean {
    return this.client !== undefined;
  }

  /**
   * Starts relaying in the background. While it runs, the outbox backlog appears in every
   * registry with bus metrics (`flotilla_bus_outbox_pending`, `…_oldest_age_seconds`).
   */
  start(): this {
    if (!this.running) {
      this.running = true;
      this.backlog = trackOutboxBacklog(this.options.pool, this.logger);
      this.abort = new AbortController();
      this.loop = this.run();
    }
    return this;
  }

  /** Stops after the batch in progress and releases the lock. */
  async stop(): Promise<void> {
    this.running = false;
    this.abort.abort();
    this.wake?.();
    await this.loop;
    this.loop = undefined;
    this.backlog?.release();
    this.backlog = undefined;
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        if (this.client === undefined && !(await this.acquire())) {
          await this.pause(this.options.standbyRetryMs);
          continue;
        }
        const client = this.client as PoolClient;
        const deleteOnPublish = this.options.retainPublishedMs === 0;
        const count = await relayBatch(client, this.publish, this.options.batchSize, deleteOnPublish);
        if (!deleteOnPublish && this.clock.now() - this.lastCleanup >= this.options.cleanupIntervalMs) {
          this.lastCleanup = this.clock.now();
          await deletePublished(client, this.options.retainPublishedMs);
        }
        if (count < this.options.batchSize) await this.pause(this.options.pollIntervalMs);
      } catch (error) {
        if (!this.running) break;
        this.logger.warn({ err: error }, 'outbox relay step failed; retrying');
        this.releaseClient(error);
        await this.pause(Math.min(this.options.standbyRetryMs, 1000));
      }
    }
    this.releaseClient();
  }

  /** Takes a connection and the lock; listens for outbox notifications on it. */
  private async acquire(): Promise<boolean> {
    const client = await this.options.pool.connect();
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
        LOCK_KEY,
      ]);
      if (!rows[0]?.locked) {
        client.release();
        return false;
      }
      await client.query(`LISTEN ${OUTBOX_CHANNEL}`);
    } catch (error) {
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
    client.on('notification', this.onNotification);
    client.on('error', this.onClientError);
    this.client = client;
    this.logger.info('outbox relay is active');
    return true;
  }

  private readonly publish = async (messages: readonly TransportMessage[]): Promise<void> => {
    await this.options.publish(messages);
    this.backlog?.published(new Set(messages.map((m) => m.topic)));
  };

  private readonly onNotification = (message: Notification) => {
    if (message.channel === OUTBOX_CHANNEL) this.wake?.();
  };

  private readonly onClientError = (error: Error) => {
    // The lock went with the connection: step down, a standby (or we) will take over.
    this.logger.warn({ err: error }, 'outbox relay lost its connection; stepping down');
    this.releaseClient(error);
  };

  private releaseClient(error?: unknown): void {
    const client = this.client;
    if (client === undefined) return;
    this.client = undefined;
    client.off('notification', this.onNotification);
    client.off('error', this.onClientError);
    // Destroying the connection (rather than UNLISTEN + unlock) also ends the session lock.
    client.release(error instanceof Error ? error : true);
  }

  private async pause(ms: number): Promise<void> {
    const woken = new Promise<void>((resolve) => {
      this.wake = resolve;
    });
    await Promise.race([woken, sleep(ms, this.abort.signal, this.clock).catch(() => {})]);
    this.wake = undefined;
  }
}

/** Creates and starts an outbox relay. */
export function startOutboxRelay(options: OutboxRelayOptions): OutboxRelay {
  return new OutboxRelay(options).start();
}

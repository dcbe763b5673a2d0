import type { Logger } from '@flotilla/core';
import pg from 'pg';

/** Options of a `Listener`. */
export interface ListenerOptions {
  readonly connectionString: string;
  readonly applicationName: string;
  readonly channels: readonly string[];
  readonly onNotification: (channel: string, payload: string) => void;
  /** Called after a reconnect: notifications sent while disconnected were lost, so look again. */
  readonly onReconnect: () => void;
  readonly logger: Logger;
}

/**
 * One dedicated connection that LISTENs for wake-ups. NOTIFY is only a hint that saves waiting
 * for the next poll: a lost connection loses notifications, so after every reconnect the
 * consumers are woken to look for themselves.
 */
export class Listener {
  private client: pg.Client | undefined;
  private stopped = false;
  private retryMs = 100;
  private reconnecting: NodeJS.Timeout | undefined;

  constructor(private readonly options: ListenerOptions) {}

  /** Connects; rejects if the first connection fails. */
  async start(): Promise<void> {
    await this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.reconnecting);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.options.connectionString,
      application_name: this.options.applicationName,
      connectionTimeoutMillis: 10_000,
    });
    let lost = false;
    const onLost = (error?: Error) => {
      if (lost) return;
      lost = true;
      if (this.client === client) this.client = undefined;
      if (this.stopped) return;
      this.options.logger.warn({ err: error }, 'bus LISTEN connection lost; reconnecting');
      client.end().catch(() => {});
      this.scheduleReconnect();
    };
    client.on('error', onLost);
    client.on('end', () => onLost());
    client.on('notification', (n) => this.options.onNotification(n.channel, n.payload ?? ''));
    try {
      await client.connect();
      for (const channel of this.options.channels)
        await client.query(`LISTEN ${pg.escapeIdentifier(channel)}`);
    } catch (error) {
      lost = true;
      client.end().catch(() => {});
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryMs = 100;
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnecting);
    this.reconnecting = setTimeout(() => {
      this.connect().then(
        () => {
          if (!this.stopped) {
            this.options.logger.info('bus LISTEN connection restored');
            this.options.onReconnect();
          }
        },
        (error: unknown) => {
          this.options.logger.warn({ err: error, retryMs: this.retryMs }, 'bus LISTEN reconnect failed');
          this.retryMs = Math.min(this.retryMs * 2, 5000);
          if (!this.stopped) this.scheduleReconnect();
        },
      );
    }, this.retryMs);
    this.reconnecting.unref();
  }
}

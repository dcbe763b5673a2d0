import type { ReplyChannel, TransportMessage } from '@flotilla/bus';
import type { Envelope, Logger } from '@flotilla/core';
import type pg from 'pg';
import { EXPIRE_REPLIES, TAKE_REPLIES } from './sql.js';

const EXPIRY_INTERVAL_MS = 60_000;

/**
 * This instance's reply address: rows in `flotilla_bus_replies`, taken (deleted) when a NOTIFY
 * names the address, or at each poll. Replies nobody takes expire.
 */
export class PgReplyChannel implements ReplyChannel {
  private timer: NodeJS.Timeout;
  private taking: Promise<void> | undefined;
  private again = false;
  private lastExpiry = Date.now();
  private closed = false;

  constructor(
    readonly address: string,
    private readonly pool: pg.Pool,
    private readonly onReply: (message: TransportMessage) => void,
    private readonly logger: Logger,
    pollIntervalMs: number,
    private readonly onClose: () => void,
  ) {
    this.timer = setInterval(() => this.wake(), pollIntervalMs);
    this.timer.unref();
  }

  /** Takes the replies waiting for this address. */
  wake(): void {
    if (this.closed) return;
    if (this.taking !== undefined) {
      this.again = true;
      return;
    }
    this.taking = this.take().finally(() => {
      this.taking = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.taking;
    this.onClose();
  }

  private async take(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ envelope: Envelope; payload: unknown }>(TAKE_REPLIES, [
        this.address,
      ]);
      for (const row of rows)
        this.onReply({ topic: this.address, envelope: row.envelope, payload: row.payload });
      if (Date.now() - this.lastExpiry > EXPIRY_INTERVAL_MS) {
        this.lastExpiry = Date.now();
        await this.pool.query(EXPIRE_REPLIES);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'taking replies failed; trying again at the next poll');
    }
  }
}

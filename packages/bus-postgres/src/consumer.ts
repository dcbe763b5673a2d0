import type { Consumer, ConsumeSpec, Delivery, DeliveryHandler } from '@flotilla/bus';
import { type Logger, newId, UnavailableError } from '@flotilla/core';
import type pg from 'pg';
import { ACK, CLAIM, CLAIM_ORDERED, type ClaimedRow, DEAD_LETTER, RELEASE, RENEW, RETRY } from './sql.js';
import { withRetry } from './transient.js';

/** What consumers share with their adapter. */
export interface ConsumerContext {
  readonly pool: pg.Pool;
  readonly logger: Logger;
  readonly leaseMs: number;
  readonly pollIntervalMs: number;
}

/**
 * Competing consumer of one (topic, group) queue: claims as many rows as it has free slots,
 * hands each to the handler, renews the leases of what is in flight every third of the lease,
 * and sleeps until a NOTIFY, a freed slot, a due retry or the poll interval wakes it.
 */
export class PgConsumer implements Consumer {
  private running = true;
  private abandoned = false;
  private readonly inFlight = new Map<string, ClaimedRow>();
  private wakePending = false;
  private waiter: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private readonly renewTimer: NodeJS.Timeout;
  private readonly claimQuery: { name: string; text: string };
  private readonly batch: number;
  private pendingAcks: { row: ClaimedRow; resolve: () => void; reject: (error: unknown) => void }[] = [];
  private flushing = false;

  constructor(
    private readonly ctx: ConsumerContext,
    readonly spec: ConsumeSpec,
    private readonly handler: DeliveryHandler,
  ) {
    this.claimQuery = spec.ordered
      ? { name: 'flotilla_bus_claim_ordered', text: CLAIM_ORDERED }
      : { name: 'flotilla_bus_claim', text: CLAIM };
    this.batch = Math.max(1, Math.ceil(spec.concurrency / 4));
    this.renewTimer = setInterval(() => void this.renew(), Math.max(10, Math.floor(ctx.leaseMs / 3)));
    this.renewTimer.unref();
    this.loop = this.run();
  }

  /** Looks for messages now (a NOTIFY arrived, a slot freed, a retry fell due). */
  wake(): void {
    this.wakePending = true;
    this.waiter?.();
  }

  /** Stops claiming, waits for the deliveries in flight to settle (their leases kept alive meanwhile). */
  async close(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
    }
    clearInterval(this.renewTimer);
  }

  /** Stops as a killed process would: no more claims, renewals or settles; leases run out. */
  abandon(): void {
    this.abandoned = true;
    this.running = false;
    clearInterval(this.renewTimer);
    this.wake();
  }

  private async run(): Promise<void> {
    while (this.running) {
      const free = this.spec.concurrency - this.inFlight.size;
      // Under load, claim in batches (a quarter of the slots) rather than one row per freed slot.
      if (free >= this.batch || (free > 0 && this.inFlight.size === 0)) {
        let rows: ClaimedRow[];
        try {
          rows = await withRetry('claim', () => this.claim(free), this.ctx.logger);
        } catch (error) {
          this.ctx.logger.warn(
            { err: error },
            'claiming messages failed; trying again after the poll interval',
          );
          await this.wait(this.ctx.pollIntervalMs);
          continue;
        }
        if (!this.running) {
          if (!this.abandoned) await this.release(rows);
          break;
        }
        for (const row of rows) this.dispatch(row);
        if (rows.length === free) continue;
      }
      await this.wait(this.ctx.pollIntervalMs);
    }
  }

  private async claim(limit: number): Promise<ClaimedRow[]> {
    const { rows } = await this.ctx.pool.query<ClaimedRow>({
      ...this.claimQuery,
      values: [this.spec.topic, this.spec.group, limit, this.ctx.leaseMs],
    });
    // RETURNING has no order; ids follow publish order.
    return rows.sort((a, b) => Number(a.id) - Number(b.id));
  }

  private async wait(ms: number): Promise<void> {
    if (!this.wakePending) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, ms);
        timer.unref();
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    this.wakePending = false;
  }

  private dispatch(row: ClaimedRow): void {
    this.inFlight.set(row.id, row);
    this.handler(this.delivery(row))
      .catch((error: unknown) => this.ctx.logger.error({ err: error }, 'delivery handler failed'))
      .finally(() => this.settled(row));
  }

  private settled(row: ClaimedRow): void {
    if (!this.inFlight.delete(row.id)) return;
    if (this.inFlight.size === 0) this.idle?.();
    this.wake();
  }

  private delivery(row: ClaimedRow): Delivery {
    const settle = async (what: string, sql: string, params: unknown[]): Promise<void> => {
      if (this.abandoned) throw new UnavailableError('The consumer stopped; the message will be redelivered');
      const result = await withRetry(what, () => this.ctx.pool.query(sql, params), this.ctx.logger);
      this.settled(row);
      if (result.rowCount === 0) {
        this.ctx.logger.warn(
          { id: row.id, messageId: row.envelope.messageId },
          `${what}: the lease had expired; the message was or will be delivered again`,
        );
      }
    };
    return {
      message: {
        topic: row.topic,
        envelope: { ...row.envelope, attempt: row.attempts } as never,
        payload: row.payload,
      },
      group: this.spec.group,
      firstFailureAt: row.first_failure_at?.getTime(),
      position: { offset: row.id },
      ack: () => this.ack(row),
      retry: async (request) => {
        await settle('retry', RETRY, [
          row.id,
          row.claim_id,
          request.delayMs,
          request.failedAt,
          request.error,
        ]);
        setTimeout(() => this.wake(), request.delayMs + 1).unref();
      },
      deadLetter: (request) =>
        settle('dead-letter', DEAD_LETTER, [
          row.id,
          row.claim_id,
          newId(),
          request.reason,
          request.error,
          request.attempts,
          request.firstFailureAt,
          request.lastFailureAt,
        ]),
    };
  }

  private ack(row: ClaimedRow): Promise<void> {
    if (this.abandoned) {
      return Promise.reject(new UnavailableError('The consumer stopped; the message will be redelivered'));
    }
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ row, resolve, reject });
      this.flushAcks();
    });
  }

  private flushAcks(): void {
    if (this.flushing || this.pendingAcks.length === 0) return;
    this.flushing = true;
    const batch = this.pendingAcks;
    this.pendingAcks = [];
    const values = [batch.map((a) => a.row.id), batch.map((a) => a.row.claim_id)];
    withRetry(
      'ack',
      () => this.ctx.pool.query<{ id: string }>({ name: 'flotilla_bus_ack', text: ACK, values }),
      this.ctx.logger,
    )
      .then(
        (result) => {
          const deleted = new Set(result.rows.map((r) => r.id));
          for (const { row, resolve } of batch) {
            if (!deleted.has(row.id)) {
              this.ctx.logger.warn(
                { id: row.id, messageId: row.envelope.messageId },
                'ack: the lease had expired; the message was or will be delivered again',
              );
            }
            this.settled(row);
            resolve();
          }
        },
        (error: unknown) => {
          for (const { reject } of batch) reject(error);
        },
      )
      .finally(() => {
        this.flushing = false;
        this.flushAcks();
      });
  }

  private async renew(): Promise<void> {
    if (this.inFlight.size === 0 || this.abandoned) return;
    const rows = [...this.inFlight.values()];
    try {
      await this.ctx.pool.query(RENEW, [
        rows.map((r) => r.id),
        rows.map((r) => r.claim_id),
        this.ctx.leaseMs,
      ]);
    } catch (error) {
      this.ctx.logger.warn({ err: error }, 'renewing leases failed; trying again at the next tick');
    }
  }

  private async release(rows: ClaimedRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.ctx.pool
      .query(RELEASE, [rows.map((r) => r.id), rows.map((r) => r.claim_id)])
      .catch((error: unknown) => this.ctx.logger.warn({ err: error }, 'could not release claimed rows'));
  }
}

import {
  BusClosedError,
  type Consumer,
  type ConsumeSpec,
  type DeadLetterRequest,
  type Delivery,
  type DeliveryHandler,
  type RetryRequest,
} from '@flotilla/bus';
import type { Logger } from '@flotilla/core';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { AmqpConnection, Resumable } from './connection.js';
import { declareGroup, lockQueue, type QueueType } from './topology.js';
import { type Decoded, decode } from './wire.js';

/** What consumers share with their adapter. */
export interface ConsumerContext {
  readonly connection: AmqpConnection;
  readonly logger: Logger;
  readonly queueType: QueueType;
  /** How often a standby ordered consumer tries to become the active one. */
  readonly standbyRetryMs: number;
  /** Puts a copy on `queue` after the delay with `attempts` deliveries counted (confirmed). */
  requeueLater(
    queue: string,
    message: Decoded,
    attempts: number,
    firstFailureAt: number,
    delayMs: number,
  ): Promise<void>;
  /** Stores a dead-letter record (confirmed). */
  storeDeadLetter(queue: string, message: Decoded, group: string, request: DeadLetterRequest): Promise<void>;
}

/**
 * Competing consumer of one group queue: prefetch = concurrency, manual acks after the
 * handler settled. With `ordered: true` one instance of the group is active at a time (it owns an
 * exclusive lock queue; the others try every `standbyRetryMs` and take over when it goes), it runs
 * the messages of one key one after another, and retries a keyed message in place (unacked, after
 * the delay) so it stays ahead of its key.
 */
export class RabbitConsumer implements Consumer, Resumable {
  private channel: Channel | undefined;
  private consumerTag: string | undefined;
  private running = true;
  private abandoned = false;
  private resuming: Promise<void> = Promise.resolve();
  private readonly pending = new Set<Promise<void>>();
  private readonly keys = new Map<string, Promise<void>>();
  private readonly wakeups = new Set<() => void>();
  private standby: NodeJS.Timeout | undefined;
  readonly queue: string;

  constructor(
    private readonly ctx: ConsumerContext,
    readonly spec: ConsumeSpec,
    queue: string,
    private readonly handler: DeliveryHandler,
  ) {
    this.queue = queue;
  }

  /** (Re)subscribes on the current connection unless a channel is already consuming. */
  resume(): Promise<void> {
    this.resuming = this.resuming
      .then(() => this.subscribe())
      .catch((error: unknown) => {
        if (error instanceof BusClosedError) return; // the adapter closed or crashed
        if (this.spec.ordered && /RESOURCE[-_]LOCKED|405/.test(String(error))) {
          this.ctx.logger.debug('another instance is the active ordered consumer; standing by');
        } else {
          this.ctx.logger.warn({ err: error }, 'subscribing failed; trying again');
        }
        this.scheduleResume();
      });
    return this.resuming;
  }

  async close(): Promise<void> {
    this.running = false;
    clearTimeout(this.standby);
    for (const wake of this.wakeups) wake();
    const channel = this.channel;
    if (channel !== undefined && this.consumerTag !== undefined) {
      await channel.cancel(this.consumerTag).catch(() => {});
    }
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    this.channel = undefined;
    if (this.spec.ordered) {
      // Hand over to a standby now rather than when the connection closes.
      await channel?.deleteQueue(lockQueue(this.spec.topic, this.spec.group)).catch(() => {});
    }
    await channel?.close().catch(() => {});
  }

  /** Stops as a killed process would: nothing more is handled or acknowledged. */
  abandon(): void {
    this.abandoned = true;
    this.running = false;
    clearTimeout(this.standby);
    for (const wake of this.wakeups) wake();
  }

  private async subscribe(): Promise<void> {
    if (!this.running || this.channel !== undefined) return;
    const model = await this.ctx.connection.current();
    const channel = await model.createChannel();
    this.channel = channel;
    channel.on('error', (error: Error) => this.ctx.logger.debug({ err: error }, 'consumer channel error'));
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.consumerTag = undefined;
      // A lost connection resumes every consumer; a channel closed on its own (an exclusive
      // consumer refused with 403, the queue deleted) is tried again here.
      this.scheduleResume();
    });
    await channel.prefetch(this.spec.concurrency);
    await declareGroup(channel, this.spec.topic, this.spec.group, this.ctx.queueType);
    if (this.spec.ordered) {
      // The lock: an exclusive queue belongs to one connection and goes with it, so only one
      // instance holds it (others get 405 RESOURCE_LOCKED and stand by). Quorum queues ignore
      // basic.consume's `exclusive` flag, and `x-single-active-consumer` is fixed when the
      // queue is declared (before anyone knows it will be consumed in order).
      await channel.assertQueue(lockQueue(this.spec.topic, this.spec.group), {
        exclusive: true,
        durable: false,
      });
    }
    const { consumerTag } = await channel.consume(this.queue, (msg) => this.receive(channel, msg), {
      noAck: false,
    });
    this.consumerTag = consumerTag;
  }

  private scheduleResume(): void {
    if (!this.running) return;
    clearTimeout(this.standby);
    this.standby = setTimeout(() => void this.resume(), this.ctx.standbyRetryMs);
    this.standby.unref();
  }

  private receive(channel: Channel, msg: ConsumeMessage | null): void {
    if (msg === null) {
      void channel.close().catch(() => {}); // cancelled by the broker (queue deleted): subscribe again
      return;
    }
    const decoded = decode(msg, this.spec.topic);
    const key = decoded.message.envelope?.key;
    let run: Promise<void>;
    if (this.spec.ordered && typeof key === 'string') {
      const previous = this.keys.get(key) ?? Promise.resolve();
      run = previous.then(() => this.run(channel, msg, decoded, true));
      this.keys.set(key, run);
      void run.finally(() => {
        if (this.keys.get(key) === run) this.keys.delete(key);
      });
    } else {
      run = this.run(channel, msg, decoded, false);
    }
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  private async run(
    channel: Channel,
    msg: ConsumeMessage,
    decoded: Decoded,
    inPlace: boolean,
  ): Promise<void> {
    let attempt = decoded.attempt;
    let firstFailureAt = decoded.firstFailureAt;
    for (;;) {
      // A message of a channel that is gone was requeued by the broker: another delivery follows.
      if (this.abandoned || this.channel !== channel) return;
      let again: RetryRequest | undefined;
      const delivery: Delivery = {
        message: { ...decoded.message, envelope: { ...decoded.message.envelope, attempt } as never },
        group: this.spec.group,
        firstFailureAt,
        position: undefined,
        ack: async () => this.ack(channel, msg),
        retry: async (request) => {
          firstFailureAt ??= request.failedAt;
          if (inPlace) {
            again = request; // kept unacknowledged and run again below, ahead of its key
            return;
          }
          await this.giveBackOnFailure(channel, msg, () =>
            this.ctx.requeueLater(
              this.queue,
              decoded,
              attempt,
              firstFailureAt ?? request.failedAt,
              request.delayMs,
            ),
          );
          this.ack(channel, msg);
        },
        deadLetter: async (request) => {
          await this.giveBackOnFailure(channel, msg, () =>
            this.ctx.storeDeadLetter(this.queue, decoded, this.spec.group, request),
          );
          this.ack(channel, msg);
        },
      };
      await this.handler(delivery).catch((error: unknown) =>
        this.ctx.logger.error({ err: error }, 'delivery handler failed'),
      );
      const retry: RetryRequest | undefined = again;
      if (retry === undefined) return;
      await this.sleep(retry.delayMs);
      if (!this.running) {
        // Closing: give the message back (it stays at the head of the queue for its key).
        if (!this.abandoned && this.channel === channel) channel.nack(msg, false, true);
        return;
      }
      attempt++;
    }
  }

  /**
   * Runs a settle that publishes first (retry copy, dead-letter record); if that fails, the
   * message goes back to the queue (redelivered with attempt + 1) instead of holding a slot.
   */
  private async giveBackOnFailure(
    channel: Channel,
    msg: ConsumeMessage,
    fn: () => Promise<void>,
  ): Promise<void> {
    try {
      await fn();
    } catch (error) {
      if (!this.abandoned && this.channel === channel) {
        try {
          channel.nack(msg, false, true);
        } catch {
          // The channel is gone: the broker requeues the message itself.
        }
      }
      throw error;
    }
  }

  private ack(channel: Channel, msg: ConsumeMessage): void {
    if (this.abandoned) return;
    if (this.channel !== channel) {
      this.ctx.logger.warn(
        { messageId: msg.properties.messageId },
        'ack after the channel was lost; the broker redelivers the message',
      );
      return;
    }
    try {
      channel.ack(msg);
    } catch (error) {
      this.ctx.logger.warn({ err: error }, 'ack failed; the broker redelivers the message');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wakeups.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeups.add(done);
    });
  }
}

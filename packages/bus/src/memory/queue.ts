import { type Clock, type TimerHandle, UnavailableError } from '@flotilla/core';
import type {
  DeadLetterRequest,
  Delivery,
  DeliveryHandler,
  RetryRequest,
  TransportMessage,
} from '../adapter.js';

/** A message waiting in, or delivered from, one group's queue. */
export interface StoredMessage {
  readonly seq: number;
  readonly message: TransportMessage;
  /** Deliveries made so far. */
  attempts: number;
  visibleAt: number;
  holder: MemoryConsumer | undefined;
  /** Changes on every claim, so a settle from an older delivery is recognised as stale. */
  token: number;
  firstFailureAt: number | undefined;
}

/** One consumer attached to a queue. */
export class MemoryConsumer {
  inFlight = 0;
  private idle: (() => void) | undefined;
  constructor(
    readonly concurrency: number,
    readonly ordered: boolean,
    readonly handler: DeliveryHandler,
  ) {}

  /** Resolves once nothing this consumer was handed is still running. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.idle = resolve;
    });
  }

  settled(): void {
    this.inFlight--;
    if (this.inFlight === 0) this.idle?.();
  }
}

/** What a queue needs from its broker. */
export interface QueueHost {
  readonly clock: Clock;
  deadLetter(stored: StoredMessage, group: string, request: DeadLetterRequest): void;
}

let nextSeq = 0;

/**
 * One group's queue on one topic: competing delivery to its consumers (round robin), delayed
 * retries, and per-key FIFO for ordered consumers (a message is claimable only when no earlier
 * message of its key is still in the queue, whether waiting, delayed or in flight).
 */
export class MemoryQueue {
  private items: StoredMessage[] = [];
  private consumers: MemoryConsumer[] = [];
  private next = 0;
  private timer: { at: number; handle: TimerHandle } | undefined;

  constructor(
    readonly topic: string,
    readonly group: string,
    private readonly host: QueueHost,
  ) {}

  get size(): number {
    return this.items.length;
  }

  push(message: TransportMessage): void {
    this.items.push({
      seq: nextSeq++,
      message,
      attempts: 0,
      visibleAt: 0,
      holder: undefined,
      token: 0,
      firstFailureAt: undefined,
    });
    this.pump();
  }

  attach(consumer: MemoryConsumer): void {
    this.consumers.push(consumer);
    this.pump();
  }

  /** Detaches a consumer; with `requeue`, what it holds becomes available again (a crash). */
  detach(consumer: MemoryConsumer, requeue: boolean): void {
    this.consumers = this.consumers.filter((c) => c !== consumer);
    if (requeue) this.release(consumer);
  }

  /** Makes everything `consumer` holds available again; its outstanding deliveries become stale. */
  release(consumer: MemoryConsumer): void {
    for (const item of this.items) {
      if (item.holder === consumer) {
        item.holder = undefined;
        item.token++;
      }
    }
    this.pump();
  }

  /** Hands claimable messages to consumers with free slots until none is left. */
  pump(): void {
    const now = this.host.clock.now();
    let progressed = true;
    while (progressed) {
      progressed = false;
      for (let i = 0; i < this.consumers.length; i++) {
        const consumer = this.consumers[(this.next + i) % this.consumers.length];
        if (consumer === undefined || consumer.inFlight >= consumer.concurrency) continue;
        const item = this.claimable(consumer.ordered, now);
        if (item === undefined) continue;
        this.next = (this.next + i + 1) % this.consumers.length;
        this.deliver(item, consumer);
        progressed = true;
        break;
      }
    }
    this.schedule(now);
  }

  private claimable(ordered: boolean, now: number): StoredMessage | undefined {
    const blockedKeys = new Set<string>();
    for (const item of this.items) {
      const key = ordered ? item.message.envelope.key : undefined;
      if (key !== undefined) {
        if (blockedKeys.has(key)) continue;
        blockedKeys.add(key);
      }
      if (item.holder === undefined && item.visibleAt <= now) return item;
    }
    return undefined;
  }

  private schedule(now: number): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const item of this.items) {
      if (item.holder === undefined && item.visibleAt > now) earliest = Math.min(earliest, item.visibleAt);
    }
    if (this.timer !== undefined && this.timer.at <= earliest) return;
    if (this.timer !== undefined) this.host.clock.clearTimeout(this.timer.handle);
    this.timer = undefined;
    if (earliest === Number.POSITIVE_INFINITY) return;
    const handle = this.host.clock.setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, earliest - now);
    this.timer = { at: earliest, handle };
  }

  private deliver(item: StoredMessage, consumer: MemoryConsumer): void {
    item.holder = consumer;
    item.attempts++;
    const token = ++item.token;
    consumer.inFlight++;
    const settle = (action: () => void): Promise<void> => {
      if (item.holder !== consumer || item.token !== token) {
        return Promise.reject(
          new UnavailableError('The delivery was lost (connection dropped); the message will be redelivered'),
        );
      }
      action();
      this.pump();
      return Promise.resolve();
    };
    const delivery: Delivery = {
      message: { ...item.message, envelope: { ...item.message.envelope, attempt: item.attempts } },
      group: this.group,
      firstFailureAt: item.firstFailureAt,
      position: { offset: String(item.seq) },
      ack: () => settle(() => this.remove(item)),
      retry: (request: RetryRequest) =>
        settle(() => {
          item.holder = undefined;
          item.firstFailureAt ??= request.failedAt;
          item.visibleAt = this.host.clock.now() + request.delayMs;
        }),
      deadLetter: (request: DeadLetterRequest) =>
        settle(() => {
          this.remove(item);
          this.host.deadLetter(item, this.group, request);
        }),
    };
    queueMicrotask(() => {
      void consumer
        .handler(delivery)
        .catch(() => {})
        .finally(() => {
          // A handler that returned without settling leaves the message to be redelivered.
          if (item.holder === consumer && item.token === token) {
            item.holder = undefined;
            item.token++;
          }
          consumer.settled();
          this.pump();
        });
    });
  }

  private remove(item: StoredMessage): void {
    this.items = this.items.filter((i) => i !== item);
  }
}

import type { Consumer, ConsumeSpec, Delivery, DeliveryHandler, TransportMessage } from '@flotilla/bus';
import { type Envelope, type Logger, UnavailableError } from '@flotilla/core';
import type { ConsumerMessages, JetStreamClient, Consumer as JsConsumer, JsMsg } from '@nats-io/jetstream';
import { type NatsDeadLetterStore, natsError } from './dead-letters.js';
import type { Names } from './names.js';

/** What consumers share with their adapter. */
export interface ConsumerContext {
  readonly names: Names;
  readonly logger: Logger;
  readonly ackWaitMs: number;
  readonly deadLetters: NatsDeadLetterStore;
  /** First failure of a message as recorded by this instance's `retry` (JetStream keeps no note). */
  readonly failures: FailureLog;
  js(): JetStreamClient;
}

/** How long one pull request waits on the server for messages (the client's minimum is 1 s). */
const FETCH_EXPIRES_MS = 5_000;

/**
 * Competing consumer of one group's durable pull consumer: pulls only as many messages as it has
 * free slots (so nothing waits in a client buffer while its ack timer runs), hands each to the
 * handler, and sends `working()` for what is in flight every third of `ack_wait`, so a long
 * handler keeps its message.
 */
export class NatsConsumer implements Consumer {
  private running = true;
  private abandoned = false;
  private readonly inFlight = new Set<JsMsg>();
  private batch: ConsumerMessages | undefined;
  private slotFreed: (() => void) | undefined;
  private idle: (() => void) | undefined;
  private readonly loop: Promise<void>;
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly ctx: ConsumerContext,
    readonly spec: ConsumeSpec,
    private readonly handler: DeliveryHandler,
  ) {
    this.heartbeat = setInterval(
      () => {
        for (const m of this.inFlight) m.working();
      },
      Math.max(100, Math.floor(ctx.ackWaitMs / 3)),
    );
    this.heartbeat.unref();
    this.loop = this.run();
  }

  /** Ends the current pull request so the next one goes out on a fresh connection. */
  repull(): void {
    this.batch?.stop();
  }

  /** Stops pulling and waits for the deliveries in flight to settle (kept alive meanwhile). */
  async close(): Promise<void> {
    this.running = false;
    this.batch?.stop();
    this.slotFreed?.();
    await this.loop;
    if (this.inFlight.size > 0) {
      await new Promise<void>((resolve) => {
        this.idle = resolve;
      });
    }
    clearInterval(this.heartbeat);
  }

  /** Stops as a killed process would: no more pulls, heartbeats or settles; `ack_wait` runs out. */
  abandon(): void {
    this.abandoned = true;
    this.running = false;
    clearInterval(this.heartbeat);
    this.batch?.stop();
    this.slotFreed?.();
  }

  private async run(): Promise<void> {
    const stream = this.ctx.names.stream(this.spec.topic);
    const durable = this.ctx.names.durable(this.spec.group);
    // Looked up once (a consumer info round trip), then reused for every pull.
    let consumer: JsConsumer | undefined;
    while (this.running) {
      const free = this.spec.concurrency - this.inFlight.size;
      if (free <= 0) {
        await new Promise<void>((resolve) => {
          this.slotFreed = resolve;
        });
        this.slotFreed = undefined;
        continue;
      }
      try {
        consumer ??= await this.ctx.js().consumers.get(stream, durable);
        this.batch = await consumer.fetch({ max_messages: free, expires: FETCH_EXPIRES_MS });
        for await (const m of this.batch) {
          if (!this.running) {
            // Pulled while closing: hand it back now rather than after ack_wait.
            if (!this.abandoned) m.nak();
            continue;
          }
          this.dispatch(m);
        }
      } catch (error) {
        if (!this.running) break;
        consumer = undefined;
        this.ctx.logger.warn({ err: error }, 'pulling messages failed; trying again in a second');
        await new Promise((resolve) => setTimeout(resolve, 1000).unref());
      } finally {
        this.batch = undefined;
      }
    }
  }

  private dispatch(m: JsMsg): void {
    // A dead letter replayed to another group: not ours, acknowledge it unseen.
    if (m.subject !== this.ctx.names.messageSubject(this.spec.topic)) {
      if (m.subject !== this.ctx.names.replaySubject(this.spec.topic, this.spec.group)) {
        m.ack();
        return;
      }
    }
    this.inFlight.add(m);
    this.handler(this.delivery(m))
      .catch((error: unknown) => this.ctx.logger.error({ err: error }, 'delivery handler failed'))
      .finally(() => this.settled(m));
  }

  private settled(m: JsMsg): void {
    if (!this.inFlight.delete(m)) return;
    if (this.inFlight.size === 0) this.idle?.();
    this.slotFreed?.();
  }

  private delivery(m: JsMsg): Delivery {
    const key = `${this.spec.group}/${m.info.stream}/${m.seq}`;
    const live = (what: string) => {
      if (this.abandoned) {
        throw new UnavailableError(`${what}: the consumer stopped; the message will be redelivered`);
      }
    };
    return {
      message: decode(this.spec.topic, m),
      group: this.spec.group,
      firstFailureAt: this.ctx.failures.get(key),
      position: { offset: String(m.seq) },
      ack: async () => {
        live('ack');
        await ackAck(m, 'ack');
        this.ctx.failures.delete(key);
        this.settled(m);
      },
      retry: async (request) => {
        live('retry');
        this.ctx.failures.note(key, request.failedAt);
        // The message stays pending (and so ahead of its successors under max_ack_pending 1)
        // and comes back after the delay with the delivery count one higher.
        m.nak(request.delayMs);
        this.settled(m);
      },
      deadLetter: async (request) => {
        live('dead-letter');
        const { envelope, payload } = decode(this.spec.topic, m);
        await this.ctx.deadLetters.record(
          { topic: this.spec.topic, group: this.spec.group, envelope, payload, ...request },
          `dlq/${key}`,
        );
        await ackAck(m, 'dead-letter');
        this.ctx.failures.delete(key);
        this.settled(m);
      },
    };
  }
}

async function ackAck(m: JsMsg, what: string): Promise<void> {
  let confirmed: boolean;
  try {
    confirmed = await m.ackAck();
  } catch (error) {
    throw natsError(`${what} of stream sequence ${m.seq}`, error);
  }
  // false: the server had already given the message up (ack_wait ran out); it comes again.
  if (!confirmed) throw new UnavailableError(`${what} of stream sequence ${m.seq} was not confirmed`);
}

/** The stored `{ envelope, payload }`, with `attempt` from the broker's delivery count. */
function decode(topic: string, m: JsMsg): TransportMessage {
  let body: { envelope?: unknown; payload?: unknown };
  try {
    body = m.json();
  } catch {
    body = {};
  }
  const envelope =
    typeof body.envelope === 'object' && body.envelope !== null
      ? ({ ...body.envelope, attempt: m.info.deliveryCount } as Envelope)
      : (body.envelope as Envelope);
  return { topic, envelope, payload: body.payload };
}

/** First failures noted by `retry`, per delivery key; bounded, oldest forgotten first. */
export class FailureLog {
  private readonly entries = new Map<string, number>();
  constructor(private readonly max = 10_000) {}
  get(key: string): number | undefined {
    return this.entries.get(key);
  }
  note(key: string, at: number): void {
    if (this.entries.has(key)) return;
    this.entries.set(key, at);
    if (this.entries.size > this.max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
  delete(key: string): void {
    this.entries.delete(key);
  }
}

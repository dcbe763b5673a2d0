import type { Logger } from '@flotilla/core';
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiCodes,
  type JetStreamManager,
  RetentionPolicy,
  StorageType,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { isCode, natsError } from './dead-letters.js';
import type { Names } from './names.js';

/** What the topology needs from its adapter. */
export interface TopologyOptions {
  readonly names: Names;
  readonly logger: Logger;
  readonly ackWaitMs: number;
  readonly maxAckPending: number;
  readonly duplicateWindowMs: number;
  readonly replicas: number;
  jsm(): JetStreamManager;
  open(): boolean;
}

/** How long a JetStream call that failed on a lost connection or timeout is retried. */
const RETRY_MS = 15_000;

/** The streams and durable consumers behind topics and groups, made on demand. */
export class Topology {
  private readonly streams = new Map<string, Promise<void>>();

  constructor(private readonly o: TopologyOptions) {}

  /** Creates the topic's stream once per adapter (a no-op when it exists with the same config). */
  ensureStream(topic: string): Promise<void> {
    let ready = this.streams.get(topic);
    if (ready === undefined) {
      const name = this.o.names.stream(topic);
      ready = this.withRetry(`creating the stream of ${topic}`, async () => {
        const jsm = this.o.jsm();
        await jsm.streams
          .add({
            name,
            subjects: [this.o.names.topicSubjects(topic)],
            retention: RetentionPolicy.Interest,
            storage: StorageType.File,
            num_replicas: this.o.replicas,
            duplicate_window: nanos(this.o.duplicateWindowMs),
          })
          .catch(async (error: unknown) => {
            // Made earlier with other settings (replicas, window): use it as it is.
            if ((await jsm.streams.info(name).catch(() => undefined)) === undefined) throw error;
            this.o.logger.warn({ err: error, stream: name }, 'using an existing stream as it is configured');
          });
      }).then(
        () => {},
        (error: unknown) => {
          this.streams.delete(topic);
          throw error;
        },
      );
      this.streams.set(topic, ready);
    }
    return ready;
  }

  /**
   * Creates the group's durable consumer if missing; with `maxAckPending`, also sets it on an
   * existing one (an ordered group is `max_ack_pending: 1`), along with `ack_wait`.
   */
  async ensureGroup(topic: string, group: string, maxAckPending: number | undefined): Promise<void> {
    await this.ensureStream(topic);
    const stream = this.o.names.stream(topic);
    const durable = this.o.names.durable(group);
    const jsm = this.o.jsm();
    await this.withRetry(`declaring group ${group} of ${topic}`, async () => {
      const info = () =>
        jsm.consumers.info(stream, durable).catch((error: unknown) => {
          if (isCode(error, JetStreamApiCodes.ConsumerNotFound)) return undefined;
          throw error;
        });
      let existing = await info();
      const ackWait = nanos(this.o.ackWaitMs);
      if (existing === undefined) {
        const created = await jsm.consumers
          .add(stream, {
            durable_name: durable,
            ack_policy: AckPolicy.Explicit,
            ack_wait: ackWait,
            // The bus counts attempts and dead-letters; JetStream would drop the message silently.
            max_deliver: -1,
            deliver_policy: DeliverPolicy.New,
            filter_subject: this.o.names.topicSubjects(topic),
            max_ack_pending: maxAckPending ?? this.o.maxAckPending,
          })
          .catch(async (error: unknown) => {
            // Another instance created it first, with other settings: update it below.
            existing = await info();
            if (existing === undefined) throw error;
            return undefined;
          });
        if (created !== undefined) return;
      }
      if (
        existing !== undefined &&
        maxAckPending !== undefined &&
        (existing.config.max_ack_pending !== maxAckPending || existing.config.ack_wait !== ackWait)
      ) {
        await jsm.consumers.update(stream, durable, { max_ack_pending: maxAckPending, ack_wait: ackWait });
      }
    });
  }

  /**
   * Retries a JetStream call that failed on a lost connection or timeout; publishes repeat
   * with the same `Nats-Msg-Id`, so a publish the server did store is dropped as a duplicate.
   */
  async withRetry<T>(what: string, call: () => Promise<T>): Promise<T> {
    const until = Date.now() + RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        return await call();
      } catch (error) {
        if (!this.o.open() || Date.now() > until || !transient(error)) throw natsError(what, error);
        this.o.logger.warn({ err: error, attempt }, `${what} failed; retrying`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, 50 * 2 ** attempt)));
      }
    }
  }
}

/** Errors a repeat may cure: timeouts, no responders while JetStream or the link comes back, a closed socket. */
function transient(error: unknown): boolean {
  const text = `${(error as Error)?.name ?? ''} ${(error as Error)?.message ?? ''}`.toLowerCase();
  return /timeout|no responders|503|disconnect|connection|reconnect/.test(text);
}

import type { Delivery } from '@flotilla/bus';
import { newId, UnavailableError } from '@flotilla/core';
import type { ConsumerContext } from './consumer.js';
import type { CopyBody, Entry } from './entry.js';
import { wrapRedis } from './errors.js';

/** The consumer a delivery belongs to. */
export interface DeliveryOwner {
  readonly ctx: ConsumerContext;
  readonly topic: string;
  readonly group: string;
  /** True once the consumer crashed (test hook): settles are refused, the entry stays pending. */
  abandoned(): boolean;
  /** The delivery was settled: frees its slot. */
  settled(): void;
  /** Moves due retries into the retry stream. */
  promote(): Promise<number>;
}

/**
 * One delivery of a stream entry. `retry` and `deadLetter` run as scripts that act only if this
 * consumer still holds the entry, so a consumer that lost it to XAUTOCLAIM cannot settle it twice.
 */
export function createDelivery(owner: DeliveryOwner, entry: Entry, attempt: number): Delivery {
  const { ctx, topic, group } = owner;
  const { redis, keys } = ctx;
  const del = entry.copy ? 1 : 0;
  const envelope = { ...entry.envelope, attempt };
  const settle = async (what: string, fn: () => Promise<number>): Promise<void> => {
    if (owner.abandoned())
      throw new UnavailableError('The consumer stopped; the message will be redelivered');
    const done = await wrapRedis(what, entry.stream, fn);
    owner.settled();
    if (done === 0) {
      ctx.logger.warn(
        { id: entry.id, messageId: entry.envelope.messageId },
        `${what}: the entry was claimed by another consumer after its visibility timeout; it was or will be delivered again`,
      );
    }
  };
  return {
    message: { topic, envelope, payload: entry.payload },
    group: group,
    firstFailureAt: entry.firstFailureAt,
    position: { offset: entry.id },
    ack: () => settle('ack', () => redis.flotillaBusAck(entry.stream, group, entry.id, del).then(() => 1)),
    retry: async (request) => {
      const copy: CopyBody = {
        u: newId(),
        envelope: entry.envelope,
        payload: entry.payload,
        attempt: attempt + 1,
        firstFailureAt: entry.firstFailureAt ?? request.failedAt,
      };
      const delayed = keys.delayed(topic, group);
      const due = Date.now() + request.delayMs;
      await settle('retry', () =>
        redis.flotillaBusRetry(
          entry.stream,
          delayed,
          group,
          entry.id,
          ctx.name,
          del,
          due,
          JSON.stringify(copy),
        ),
      );
      setTimeout(() => void owner.promote().catch(() => {}), request.delayMs + 1).unref();
    },
    deadLetter: (request) => {
      const id = newId();
      const record = { id, topic, group: group, envelope, payload: entry.payload, ...request };
      return settle('dead-letter', () =>
        redis.flotillaBusDeadLetter(
          entry.stream,
          keys.deadLetters,
          keys.deadLetterIndex,
          group,
          entry.id,
          ctx.name,
          del,
          id,
          JSON.stringify(record),
          Date.now(),
        ),
      );
    },
  };
}

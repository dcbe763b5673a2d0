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
  /** Acknowledges `entry` (and deletes it if it is a retry copy). */
  acknowledge(entry: Entry): Promise<unknown>;
  /** `entry` was settled: frees its slot. */
  settled(entry: Entry): void;
  /** Moves due retries into the retry stream. */
  promote(): Promise<number>;
}

const stopped = (): UnavailableError =>
  new UnavailableError('The consumer stopped; the message will be redelivered');

/**
 * One delivery of a stream entry. `retry` and `deadLetter` run as scripts that act only if this
 * consumer still holds the entry, so a consumer that lost it to XAUTOCLAIM cannot settle it twice.
 */
export function createDelivery(owner: DeliveryOwner, entry: Entry, attempt: number): Delivery {
  const { ctx, topic, group } = owner;
  const { redis, keys } = ctx;
  const del = entry.copy ? 1 : 0;
  const envelope = { ...entry.envelope, attempt };
  const settle = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    if (owner.abandoned()) throw stopped();
    const done = await wrapRedis(what, entry.stream, fn);
    owner.settled(entry);
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
    // Not through `settle`: an ack cannot find the entry claimed away (XACK acknowledges it
    // anyway), and one async frame less per message shows at tens of thousands a second.
    ack: () => {
      if (owner.abandoned()) return Promise.reject(stopped());
      return wrapRedis('ack', entry.stream, () => owner.acknowledge(entry)).then(() => owner.settled(entry));
    },
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

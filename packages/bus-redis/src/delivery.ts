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
  /** Acknowledges `entry` (and deletes it if it is a retry copy); -1 if the lease `token` is lost. */
  acknowledge(entry: Entry, token: string): Promise<unknown>;
  /** `entry` was settled: frees its slot. */
  settled(entry: Entry): void;
  /** Moves due retries into the retry stream. */
  promote(): Promise<number>;
  /** The group's lease key, checked by the settle scripts when a token is given. */
  readonly leaseKey: string;
  /** A settle was refused because the lease `token` no longer holds (ordered consumers only). */
  leaseLost(token: string): void;
}

const stopped = (): UnavailableError =>
  new UnavailableError('The consumer stopped; the message will be redelivered');

const fenced = (): UnavailableError =>
  new UnavailableError(
    'The ordered consumer lost its lease; the message will be redelivered by the next active consumer',
  );

/**
 * One delivery of a stream entry. `retry` and `deadLetter` run as scripts that act only if this
 * consumer still holds the entry, so a consumer that lost it to XAUTOCLAIM cannot settle it twice.
 * With a lease `token` (ordered consumers) every settle also requires that the token still holds
 * the group's lease; a refused settle rejects and leaves the entry pending for the next owner.
 */
export function createDelivery(owner: DeliveryOwner, entry: Entry, attempt: number, token = ''): Delivery {
  const { ctx, topic, group } = owner;
  const { redis, keys } = ctx;
  const del = entry.copy ? 1 : 0;
  const envelope = { ...entry.envelope, attempt };
  const settle = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    if (owner.abandoned()) throw stopped();
    const done = await wrapRedis(what, entry.stream, fn);
    if (done === -1) {
      owner.leaseLost(token);
      throw fenced();
    }
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
      return wrapRedis('ack', entry.stream, () => owner.acknowledge(entry, token)).then((done) => {
        if (done === -1) {
          owner.leaseLost(token);
          throw fenced();
        }
        owner.settled(entry);
      });
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
          owner.leaseKey,
          group,
          entry.id,
          ctx.name,
          del,
          due,
          JSON.stringify(copy),
          token,
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
          owner.leaseKey,
          group,
          entry.id,
          ctx.name,
          del,
          id,
          JSON.stringify(record),
          Date.now(),
          token,
        ),
      );
    },
  };
}

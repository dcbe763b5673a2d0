import {
  assertSelective,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterRequest,
  type DeadLetterStore,
} from '@flotilla/bus';
import { newId } from '@flotilla/core';
import type { Channel, GetMessage } from 'amqplib';
import type { AmqpConnection } from './connection.js';
import { ATTEMPTS_HEADER, DEAD_LETTER_QUEUE, declareDeadLetters, groupQueue } from './topology.js';
import { type Decoded, publishOptions } from './wire.js';

/** A dead letter as stored: one persistent message of `flotilla.dead-letters`, JSON. */
export function deadLetterRecord(decoded: Decoded, group: string, request: DeadLetterRequest): DeadLetter {
  return {
    id: newId(),
    topic: decoded.message.topic,
    group,
    envelope: decoded.message.envelope,
    payload: decoded.message.payload,
    reason: request.reason,
    error: request.error,
    attempts: request.attempts,
    firstFailureAt: request.firstFailureAt,
    lastFailureAt: request.lastFailureAt,
  };
}

function matches(record: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (filter.topic === undefined || record.topic === filter.topic) &&
    (filter.group === undefined || record.group === filter.group) &&
    (filter.ids === undefined || filter.ids.includes(record.id))
  );
}

/**
 * Dead letters in one classic durable queue. A queue cannot be read without taking, so every
 * operation takes the whole queue with `basic.get` (unacknowledged) on a channel of its own,
 * acknowledges what it removes (after a replay's copy is confirmed) and closes the channel: the
 * broker puts the rest back in their places. Operations of one adapter run one at a time; a
 * list in another instance at the same moment sees only what this one is not holding.
 */
export class RabbitDeadLetterStore implements DeadLetterStore {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly connection: AmqpConnection) {}

  async list(filter: DeadLetterFilter & { limit?: number } = {}): Promise<DeadLetter[]> {
    const limit = filter.limit ?? 100;
    return this.browse('list dead letters', async (records) =>
      records
        .filter(({ record }) => matches(record, filter))
        .slice(0, limit)
        .map(({ record }) => record),
    );
  }

  async replay(filter: DeadLetterFilter): Promise<number> {
    assertSelective('replay', filter);
    return this.browse('replay dead letters', async (records, channel) => {
      const chosen = records.filter(({ record }) => matches(record, filter));
      // Back to the group's queue only, attempt 1 again, the same messageId.
      await this.connection.publishAll(
        chosen.map(({ record }) => ({
          exchange: '',
          routingKey: groupQueue(record.topic, record.group),
          content: Buffer.from(JSON.stringify({ envelope: record.envelope, payload: record.payload })),
          options: publishOptions(record.topic, record.envelope, { [ATTEMPTS_HEADER]: 0 }),
        })),
      );
      for (const { msg } of chosen) channel.ack(msg);
      return chosen.length;
    });
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    assertSelective('purge', filter);
    return this.browse('purge dead letters', async (records, channel) => {
      const chosen = records.filter(({ record }) => matches(record, filter));
      for (const { msg } of chosen) channel.ack(msg);
      return chosen.length;
    });
  }

  private browse<T>(
    what: string,
    fn: (records: { record: DeadLetter; msg: GetMessage }[], channel: Channel) => Promise<T>,
  ): Promise<T> {
    const run = this.queue.then(() =>
      this.connection.withChannel(what, async (channel) => {
        await declareDeadLetters(channel);
        const records: { record: DeadLetter; msg: GetMessage }[] = [];
        for (;;) {
          const msg = await channel.get(DEAD_LETTER_QUEUE, { noAck: false });
          if (msg === false) break;
          records.push({ record: JSON.parse(msg.content.toString('utf8')) as DeadLetter, msg });
        }
        return fn(records, channel);
      }),
    );
    this.queue = run.catch(() => {});
    return run;
  }
}

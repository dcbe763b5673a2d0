import { ConfigurationError } from '@flotilla/core';
import type { Channel } from 'amqplib';

/** Headers this adapter sets on messages (AMQP headers; `x-delivery-count` is the broker's). */
export const ATTEMPTS_HEADER = 'x-flotilla-attempts';
export const FIRST_FAILURE_HEADER = 'x-flotilla-first-failure-at';
export const TOPIC_HEADER = 'x-flotilla-topic';
// Not `x-`: a headers exchange ignores binding arguments starting with `x-` when matching.
const DELAY_HEADER = 'flotilla-delay';

/** Headers exchange in front of the delay queues; a message's routing key is its group queue. */
export const DELAY_EXCHANGE = 'flotilla.delay';
/** Classic durable queue of dead-letter records (browsed with basic.get, see dead-letters.ts). */
export const DEAD_LETTER_QUEUE = 'flotilla.dead-letters';

/** Queue type of group queues. */
export type QueueType = 'quorum' | 'classic';

/** Fanout exchange of a topic: every group queue of the topic is bound to it. */
export function topicExchange(topic: string): string {
  return `flotilla.topic.${topic}`;
}

/** Durable queue of one group on one topic (`:` cannot occur in topic or group names). */
export function groupQueue(topic: string, group: string): string {
  const name = `flotilla.group.${topic}:${group}`;
  if (Buffer.byteLength(name) > 255) {
    throw new ConfigurationError(
      `RabbitMQ queue names are at most 255 bytes; topic and group give ${Buffer.byteLength(name)}: ${name}`,
      { data: { field: 'group', topic, group } },
    );
  }
  return name;
}

/** Exclusive queue whose owner is the one active `ordered` consumer of a group queue. */
export function lockQueue(topic: string, group: string): string {
  return `flotilla.lock.${topic}:${group}`;
}

/**
 * The delay tier of a retry: delays are rounded up to a power of two milliseconds, so a group
 * uses a few dozen delay queues at most (each with one TTL, expiring in order) and a retry may
 * wait up to twice its delay.
 */
export function delayTier(delayMs: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, Math.ceil(delayMs))));
}

/** Headers that route a message through the delay queue of `tier`. */
export function delayHeaders(tier: number): Record<string, string> {
  return { [DELAY_HEADER]: String(tier) };
}

/** Declares the topic exchange and the group queue bound to it. */
export async function declareGroup(
  channel: Channel,
  topic: string,
  group: string,
  queueType: QueueType,
): Promise<string> {
  const exchange = topicExchange(topic);
  const queue = groupQueue(topic, group);
  await channel.assertExchange(exchange, 'fanout', { durable: true });
  await channel.assertQueue(queue, {
    durable: true,
    arguments: queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {},
  });
  await channel.bindQueue(queue, exchange, '');
  return queue;
}

/** Declares the delay queue of `tier`: its messages expire after `tier` ms back to their group queue. */
export async function declareDelay(channel: Channel, tier: number): Promise<void> {
  const queue = `flotilla.delay.${tier}`;
  await channel.assertExchange(DELAY_EXCHANGE, 'headers', { durable: true });
  await channel.assertQueue(queue, {
    durable: true,
    // Dead-lettered to the default exchange with the original routing key: the group queue.
    arguments: { 'x-message-ttl': tier, 'x-dead-letter-exchange': '' },
  });
  await channel.bindQueue(queue, DELAY_EXCHANGE, '', { 'x-match': 'all', ...delayHeaders(tier) });
}

/** Declares the dead-letter queue. */
export async function declareDeadLetters(channel: Channel): Promise<void> {
  await channel.assertQueue(DEAD_LETTER_QUEUE, { durable: true });
}

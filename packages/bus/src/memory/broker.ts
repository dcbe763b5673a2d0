import { type Clock, newId, systemClock } from '@flotilla/core';
import type { DeadLetterRequest, TransportMessage } from '../adapter.js';
import type { DeadLetter } from '../dead-letter.js';
import { MemoryQueue, type QueueHost, type StoredMessage } from './queue.js';

/**
 * The state a set of in-memory adapters share, as services share a broker: subscriptions,
 * one queue per (topic, group), dead letters and reply addresses. Not durable.
 */
export class MemoryBroker implements QueueHost {
  readonly clock: Clock;
  readonly deadLetters = new Map<string, DeadLetter>();
  readonly replyChannels = new Map<string, (message: TransportMessage) => void>();
  private readonly queues = new Map<string, MemoryQueue>();
  private readonly groupsByTopic = new Map<string, Set<string>>();

  constructor(options: { clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** The queue of `group` on `topic`, declaring the subscription. */
  queue(topic: string, group: string): MemoryQueue {
    const id = `${topic}\u0000${group}`;
    let queue = this.queues.get(id);
    if (queue === undefined) {
      queue = new MemoryQueue(topic, group, this);
      this.queues.set(id, queue);
      let groups = this.groupsByTopic.get(topic);
      if (groups === undefined) {
        groups = new Set();
        this.groupsByTopic.set(topic, groups);
      }
      groups.add(group);
    }
    return queue;
  }

  /** Routes a copy of the message (as JSON would carry it) to every group subscribed to its topic. */
  publish(message: TransportMessage): void {
    const wire = JSON.stringify(message);
    for (const group of this.groupsByTopic.get(message.topic) ?? []) {
      this.queue(message.topic, group).push(JSON.parse(wire) as TransportMessage);
    }
  }

  deadLetter(stored: StoredMessage, group: string, request: DeadLetterRequest): void {
    const id = newId();
    this.deadLetters.set(id, {
      id,
      topic: stored.message.topic,
      group,
      envelope: { ...stored.message.envelope, attempt: stored.attempts },
      payload: stored.message.payload,
      reason: request.reason,
      error: request.error,
      attempts: request.attempts,
      firstFailureAt: request.firstFailureAt,
      lastFailureAt: request.lastFailureAt,
    });
  }
}

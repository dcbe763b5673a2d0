/**
 * Key layout under the adapter's prefix. Topic and group names cannot contain `:` (bus names match
 * `[a-zA-Z0-9][a-zA-Z0-9._-]*`), so the keys of different topics and groups never collide.
 */
export class Keys {
  constructor(readonly prefix: string) {}

  /** The topic's stream; every group is a consumer group on it. */
  topic(topic: string): string {
    return `${this.prefix}topic:${topic}`;
  }

  /** A group's own stream of retries and DLQ replays for one topic (consumer group of the same name). */
  retry(topic: string, group: string): string {
    return `${this.prefix}retry:${topic}:${group}`;
  }

  /** Sorted set of a group's retries waiting for their delay, scored by due time (Unix ms). */
  delayed(topic: string, group: string): string {
    return `${this.prefix}delayed:${topic}:${group}`;
  }

  /** The lease naming the active consumer of an ordered group (a token, with a TTL). */
  lease(topic: string, group: string): string {
    return `${this.prefix}lease:${topic}:${group}`;
  }

  /** Hash of dead-letter records by id. */
  get deadLetters(): string {
    return `${this.prefix}dlq`;
  }

  /** Sorted set of dead-letter ids by time, for listing oldest first. */
  get deadLetterIndex(): string {
    return `${this.prefix}dlq:index`;
  }

  /** List that holds the replies for one reply address. */
  reply(address: string): string {
    return `${this.prefix}reply:${address}`;
  }
}

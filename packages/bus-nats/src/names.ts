import { ConfigurationError } from '@flotilla/core';

/**
 * Bus names (`[a-zA-Z0-9][a-zA-Z0-9._-]*`) as one NATS token: `.` separates subject tokens and
 * is refused in stream and consumer names, and `~` never occurs in a bus name, so `.` → `~` is
 * reversible and two topics never share a stream.
 */
export function token(name: string): string {
  return name.replaceAll('.', '~');
}

/** Every stream, subject and consumer name the adapter uses, under one prefix. */
export class Names {
  constructor(readonly prefix: string) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(prefix)) {
      throw new ConfigurationError(
        `NATS bus adapter prefix should match [A-Za-z0-9_-]{1,64}, got ${JSON.stringify(prefix)}`,
        { data: { field: 'prefix', value: prefix } },
      );
    }
  }

  /** The stream of one topic. Topics start with a letter or digit, so no topic stream is `…__dlq`. */
  stream(topic: string): string {
    return `${this.prefix}_${token(topic)}`;
  }

  /** Everything stored for a topic: new messages and replays aimed at one group. */
  topicSubjects(topic: string): string {
    return `${this.prefix}.${token(topic)}.>`;
  }

  /** Subject of a published message (every group's consumer takes it). */
  messageSubject(topic: string): string {
    return `${this.prefix}.${token(topic)}.m`;
  }

  /** Subject of a dead letter replayed to `group` (the other groups acknowledge it unseen). */
  replaySubject(topic: string, group: string): string {
    return `${this.prefix}.${token(topic)}.g.${token(group)}`;
  }

  /** Durable consumer of a group. */
  durable(group: string): string {
    return token(group);
  }

  get deadLetterStream(): string {
    return `${this.prefix}__dlq`;
  }

  deadLetterSubject(topic: string, group: string): string {
    return `${this.prefix}._dlq.${token(topic)}.${token(group)}`;
  }

  deadLetterFilter(topic: string | undefined, group: string | undefined): string {
    return `${this.prefix}._dlq.${topic === undefined ? '*' : token(topic)}.${group === undefined ? '*' : token(group)}`;
  }

  /** Core NATS subject (in no stream) where an instance's replies arrive. */
  replySubject(instanceId: string, id: string): string {
    return `${this.prefix}._reply.${instanceId}.${id}`;
  }
}

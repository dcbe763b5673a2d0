import { type Envelope, type SerializedError, ValidationError } from '@flotilla/core';

/** Why a message was dead-lettered. */
export type DeadLetterReason =
  /** The envelope did not match `EnvelopeSchema`. */
  | 'invalid-envelope'
  /** No definition of the subscription has the envelope's type. */
  | 'unknown-type'
  /** The payload did not match the type's schema (`error.data.errors` names the fields). */
  | 'invalid-payload'
  /** The handler failed (or its consumer vanished) `maxAttempts` times. */
  | 'max-attempts';

/** A message in the dead-letter store, with what is needed to understand and replay it. */
export interface DeadLetter {
  /** Id of the dead-letter record (not the message). */
  readonly id: string;
  readonly topic: string;
  /** The subscriber group that gave up; a replay goes back to this group only. */
  readonly group: string;
  /** Envelope as last delivered (`messageId`, `headers`, `key`, ... unchanged). */
  readonly envelope: Envelope;
  readonly payload: unknown;
  readonly reason: DeadLetterReason;
  /** The last error. */
  readonly error: SerializedError;
  readonly attempts: number;
  /** Unix milliseconds. */
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
}

/** Which dead letters an operation applies to; fields combine with AND. */
export interface DeadLetterFilter {
  readonly topic?: string;
  readonly group?: string;
  readonly ids?: readonly string[];
}

/** Browse, replay and purge. A replayed message keeps its `messageId` and starts again at attempt 1. */
export interface DeadLetterStore {
  /** Oldest first; `limit` defaults to 100. */
  list(filter?: DeadLetterFilter & { limit?: number }): Promise<DeadLetter[]>;
  /** Puts the matching messages back on their group's queue; returns how many. */
  replay(filter: DeadLetterFilter): Promise<number>;
  /** Deletes the matching dead letters; returns how many. An empty filter is refused. */
  purge(filter: DeadLetterFilter): Promise<number>;
}

/** Throws a `ValidationError` for a replay or purge that names no topic, group or ids. */
export function assertSelective(operation: 'replay' | 'purge', filter: DeadLetterFilter): void {
  if (filter.topic === undefined && filter.group === undefined && filter.ids === undefined) {
    throw new ValidationError(`Dead-letter ${operation} needs a topic, a group or ids`, {
      data: { errors: [{ field: '/filter', message: 'name a topic, a group or ids' }] },
    });
  }
}

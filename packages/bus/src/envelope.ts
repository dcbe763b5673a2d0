import { type Clock, compileValidator, type Envelope, EnvelopeSchema, newId } from '@flotilla/core';

/** Envelope fields a publisher may set. */
export interface PublishOptions {
  /** Ordering and partitioning key (e.g. the aggregate id); per-key FIFO with `ordered: true`. */
  key?: string;
  /** String headers carried with the message. */
  headers?: Record<string, string>;
  /** Id shared by every message of one business flow. */
  correlationId?: string;
  /** `messageId` of the message that caused this one. */
  causationId?: string;
  /** W3C trace context of the publishing span. */
  traceparent?: string;
  /** A caller-chosen id (default a new UUIDv7); keep it stable to make re-publishing idempotent. */
  messageId?: string;
}

/** Validates envelopes at both ends; field pointers start with `/envelope`. */
export const envelopeValidator = compileValidator(EnvelopeSchema, '/envelope');

/** Builds and validates an envelope for a new message (attempt 1). */
export function createEnvelope(
  type: string,
  options: PublishOptions & { replyTo?: string; deadline?: number },
  clock: Clock,
): Envelope {
  const envelope: Envelope = {
    messageId: options.messageId ?? newId(),
    type,
    timestamp: clock.now(),
    attempt: 1,
  };
  if (options.key !== undefined) envelope.key = options.key;
  if (options.correlationId !== undefined) envelope.correlationId = options.correlationId;
  if (options.causationId !== undefined) envelope.causationId = options.causationId;
  if (options.traceparent !== undefined) envelope.traceparent = options.traceparent;
  if (options.headers !== undefined) envelope.headers = { ...options.headers };
  if (options.replyTo !== undefined) envelope.replyTo = options.replyTo;
  if (options.deadline !== undefined) envelope.deadline = options.deadline;
  return envelopeValidator.assert(envelope);
}

/**
 * Publish options for a message caused by `cause`: same correlation id (or the cause's id when
 * it had none), the cause as `causationId`, and the same trace.
 */
export function causedBy(
  cause: Envelope,
): Pick<PublishOptions, 'correlationId' | 'causationId' | 'traceparent'> {
  const options: Pick<PublishOptions, 'correlationId' | 'causationId' | 'traceparent'> = {
    correlationId: cause.correlationId ?? cause.messageId,
    causationId: cause.messageId,
  };
  if (cause.traceparent !== undefined) options.traceparent = cause.traceparent;
  return options;
}

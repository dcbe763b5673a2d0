import {
  type Clock,
  FlotillaError,
  type Logger,
  serializeError,
  ValidationError,
  type Validator,
} from '@flotilla/core';
import type { ExponentialBackoff } from '@flotilla/resilience';
import type { TSchema } from '@sinclair/typebox';
import type { Delivery, DeliveryHandler } from './adapter.js';
import type { DeadLetterReason } from './dead-letter.js';
import { envelopeValidator } from './envelope.js';
import type { IncomingMessage, MessageDefinition } from './message.js';
import type { BusMetrics, HandledOutcome } from './metrics.js';

/** How one subscription turns deliveries into handler calls, acks, retries and dead letters. */
export interface ProcessorOptions {
  readonly topic: string;
  readonly group: string;
  readonly definitions: ReadonlyMap<string, MessageDefinition>;
  readonly maxAttempts: number;
  readonly backoff: ExponentialBackoff;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly handler: (message: IncomingMessage) => Promise<void> | void;
  /** Counts settlements and times handlers; nothing is measured without it. */
  readonly metrics?: BusMetrics | undefined;
}

/** Checks what arrived before any handler sees it; returns the reason and error if it is unusable. */
export function inspectDelivery(
  delivery: Delivery,
  definitions: ReadonlyMap<string, { validator: Pick<Validator<TSchema>, 'check' | 'errors'> }>,
): { reason: DeadLetterReason; error: FlotillaError } | undefined {
  const { envelope, payload } = delivery.message;
  if (!envelopeValidator.check(envelope)) {
    const envelopeErrors = envelopeValidator.errors(envelope);
    return {
      reason: 'invalid-envelope',
      error: new ValidationError(
        `Invalid envelope: ${envelopeErrors[0]?.field} ${envelopeErrors[0]?.message}`,
        {
          data: { errors: envelopeErrors },
        },
      ),
    };
  }
  const definition = definitions.get(envelope.type);
  if (definition === undefined) {
    return {
      reason: 'unknown-type',
      error: new ValidationError(
        `No definition for message type "${envelope.type}" on topic ${delivery.message.topic} (known: ${[...definitions.keys()].join(', ')})`,
        { data: { errors: [{ field: '/envelope/type', message: 'unknown message type' }] } },
      ),
    };
  }
  if (!definition.validator.check(payload)) {
    const payloadErrors = definition.validator.errors(payload);
    return {
      reason: 'invalid-payload',
      error: new ValidationError(
        `Invalid ${envelope.type} payload: ${payloadErrors[0]?.field} ${payloadErrors[0]?.message}`,
        { data: { errors: payloadErrors } },
      ),
    };
  }
  return undefined;
}

/** Number of the delivery, also for an envelope too broken to validate. */
export function attemptOf(delivery: Delivery): number {
  const attempt = (delivery.message.envelope as { attempt?: unknown } | undefined)?.attempt;
  return typeof attempt === 'number' && Number.isInteger(attempt) && attempt > 0 ? attempt : 1;
}

/** Dead-letters `delivery`, filling in the failure times. */
export function deadLetter(
  delivery: Delivery,
  reason: DeadLetterReason,
  error: unknown,
  clock: Clock,
): Promise<void> {
  const now = clock.now();
  return delivery.deadLetter({
    reason,
    error: serializeError(error),
    attempts: attemptOf(delivery),
    firstFailureAt: delivery.firstFailureAt ?? now,
    lastFailureAt: now,
  });
}

/**
 * The delivery handler of a subscription. At-least-once: the message is acknowledged only after
 * the handler resolved; a failure is retried after a backoff delay until `maxAttempts`
 * deliveries, then dead-lettered. Invalid messages are dead-lettered without running the
 * handler. It never rejects: a failure to settle (lost connection) is logged, and the broker
 * redelivers the message.
 */
export function createProcessor(options: ProcessorOptions): DeliveryHandler {
  const { topic, group, definitions, maxAttempts, backoff, clock, logger, handler, metrics } = options;
  // Counted once the settlement resolved: a settlement that failed is redelivered, not counted.
  const settled =
    metrics === undefined ? () => {} : (outcome: HandledOutcome) => metrics.handled(topic, group, outcome);

  async function process(delivery: Delivery): Promise<void> {
    const problem = inspectDelivery(delivery, definitions);
    if (problem !== undefined) {
      logger.warn(
        { topic, group, messageId: delivery.message.envelope?.messageId, reason: problem.reason },
        `dead-lettering an unusable message: ${problem.error.message}`,
      );
      await deadLetter(delivery, problem.reason, problem.error, clock);
      settled('dead_letter');
      return;
    }
    const { envelope, payload } = delivery.message;
    if (envelope.attempt > maxAttempts) {
      // Earlier deliveries ended without a result: the consumer died or lost its lease. A message
      // that kills its consumer must not be redelivered forever.
      const error = new FlotillaError(
        `Delivery ${envelope.attempt} exceeds maxAttempts ${maxAttempts}: earlier deliveries ended without a result (consumer stopped or lease expired)`,
        { code: 'DELIVERY_ABANDONED', data: { attempt: envelope.attempt, maxAttempts } },
      );
      await deadLetter(delivery, 'max-attempts', error, clock);
      settled('dead_letter');
      return;
    }
    const started = metrics === undefined ? 0 : performance.now();
    try {
      await handler({
        type: envelope.type,
        payload,
        envelope,
        topic,
        group,
        position: delivery.position,
      });
    } catch (error) {
      metrics?.handlerDuration(topic, group, (performance.now() - started) / 1000);
      if (envelope.attempt >= maxAttempts) {
        logger.warn(
          { err: error, topic, group, messageId: envelope.messageId, attempt: envelope.attempt },
          'handler failed on the last attempt; dead-lettering the message',
        );
        await deadLetter(delivery, 'max-attempts', error, clock);
        settled('dead_letter');
      } else {
        const delayMs = backoff.delay(envelope.attempt);
        logger.debug(
          { err: error, topic, group, messageId: envelope.messageId, attempt: envelope.attempt, delayMs },
          'handler failed; retrying',
        );
        await delivery.retry({ delayMs, error: serializeError(error), failedAt: clock.now() });
        settled('retry');
      }
      return;
    }
    metrics?.handlerDuration(topic, group, (performance.now() - started) / 1000);
    await delivery.ack();
    settled('ack');
  }

  // `process` is async, so it never throws synchronously: one `catch` instead of another async
  // frame on every message.
  return (delivery) =>
    process(delivery).catch((error: unknown) => {
      logger.error(
        { err: error, topic, group, messageId: delivery.message.envelope?.messageId },
        'could not settle a delivery; the broker will redeliver it',
      );
    });
}

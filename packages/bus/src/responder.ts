import { type Clock, type Logger, newId, serializeError } from '@flotilla/core';
import type { BusAdapter, Delivery, DeliveryHandler } from './adapter.js';
import type { IncomingMessage, RequestDefinition } from './message.js';
import { deadLetter, inspectDelivery } from './processor.js';
import { ERROR_REPLY_TYPE } from './requester.js';

/** How a responder subscription answers requests. */
export interface ResponderOptions {
  readonly target: string;
  readonly group: string;
  readonly definitions: ReadonlyMap<string, RequestDefinition>;
  readonly adapter: BusAdapter;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly handler: (request: IncomingMessage) => Promise<unknown> | unknown;
}

/**
 * The delivery handler of a responder. A request runs its handler once per delivery; the result
 * (checked against the reply schema) or the error goes back to `replyTo`, then the request is
 * acknowledged. Errors are answered, not retried: the requester decides. A request whose
 * deadline passed is acknowledged without running the handler (its requester already gave up);
 * one without a reply address is dead-lettered.
 */
export function createResponder(options: ResponderOptions): DeliveryHandler {
  const { target, group, definitions, adapter, clock, logger, handler } = options;
  const validators = new Map([...definitions].map(([type, d]) => [type, { validator: d.requestValidator }]));

  async function reply(delivery: Delivery, type: string, payload: unknown): Promise<void> {
    const request = delivery.message.envelope;
    const envelope = {
      messageId: newId(),
      type,
      causationId: request.messageId,
      timestamp: clock.now(),
      attempt: 1,
      ...(request.correlationId === undefined ? {} : { correlationId: request.correlationId }),
      ...(request.traceparent === undefined ? {} : { traceparent: request.traceparent }),
    };
    await adapter.sendReply(request.replyTo as string, { topic: target, envelope, payload });
  }

  async function process(delivery: Delivery): Promise<void> {
    const { envelope, payload } = delivery.message;
    if (typeof envelope?.replyTo !== 'string') {
      const error = new Error('A request without envelope.replyTo cannot be answered');
      await deadLetter(delivery, 'invalid-envelope', error, clock);
      return;
    }
    const problem = inspectDelivery(delivery, validators);
    if (problem?.reason === 'invalid-envelope') {
      await deadLetter(delivery, problem.reason, problem.error, clock);
      return;
    }
    if (envelope.deadline !== undefined && envelope.deadline <= clock.now()) {
      logger.warn(
        { target, group, messageId: envelope.messageId, type: envelope.type, deadline: envelope.deadline },
        'request arrived after its deadline; acknowledged without an answer',
      );
      await delivery.ack();
      return;
    }
    const definition = definitions.get(envelope.type);
    if (problem !== undefined || definition === undefined) {
      await reply(delivery, ERROR_REPLY_TYPE, serializeError(problem?.error));
      await delivery.ack();
      return;
    }
    let answer: { type: string; payload: unknown };
    try {
      const result = await handler({
        type: envelope.type,
        payload,
        envelope,
        topic: target,
        group,
        position: delivery.position,
      });
      answer = { type: definition.replyType, payload: definition.replyValidator.assert(result) };
    } catch (error) {
      answer = { type: ERROR_REPLY_TYPE, payload: serializeError(error) };
    }
    await reply(delivery, answer.type, answer.payload);
    await delivery.ack();
  }

  return async (delivery) => {
    try {
      await process(delivery);
    } catch (error) {
      logger.error(
        { err: error, target, group, messageId: delivery.message.envelope?.messageId },
        'could not answer a request; the broker will redeliver it',
      );
    }
  };
}

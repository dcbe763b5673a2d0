import type { TransportMessage } from '@flotilla/bus';
import type { Envelope } from '@flotilla/core';
import type { ConsumeMessage, GetMessage, Options } from 'amqplib';
import { ATTEMPTS_HEADER, FIRST_FAILURE_HEADER, TOPIC_HEADER } from './topology.js';

/** A received message with the adapter's bookkeeping read from its headers. */
export interface Decoded {
  readonly message: TransportMessage;
  /** The body as received, re-published unchanged by retries. */
  readonly content: Buffer;
  /** This delivery's number: earlier deliveries recorded in the header plus the broker's count. */
  readonly attempt: number;
  readonly firstFailureAt: number | undefined;
}

/** Body and properties of a message: the body is `{ envelope, payload }` as JSON. */
export function encode(
  message: TransportMessage,
  headers: Record<string, unknown> = {},
): { content: Buffer; options: Options.Publish } {
  const content = Buffer.from(
    JSON.stringify({ envelope: message.envelope, payload: message.payload ?? null }),
  );
  return { content, options: publishOptions(message.topic, message.envelope, headers) };
}

/** Properties of a persistent message of `topic`. */
export function publishOptions(
  topic: string,
  envelope: Envelope | undefined,
  headers: Record<string, unknown>,
): Options.Publish {
  return {
    persistent: true,
    contentType: 'application/json',
    ...(typeof envelope?.messageId === 'string' ? { messageId: envelope.messageId } : {}),
    ...(typeof envelope?.timestamp === 'number' ? { timestamp: Math.floor(envelope.timestamp / 1000) } : {}),
    headers: { [TOPIC_HEADER]: topic, ...headers },
  };
}

function numberHeader(value: unknown): number | undefined {
  const n = typeof value === 'number' ? value : typeof value === 'string' ? Number(value) : Number.NaN;
  return Number.isFinite(n) ? n : undefined;
}

/**
 * Reads a delivery. `attempt` = deliveries recorded by earlier retry copies + the broker's
 * redelivery count (`x-delivery-count` on quorum queues; classic queues only say `redelivered`,
 * counted as one) + 1. A body that is not JSON is passed on as it is, so the bus dead-letters it
 * as an invalid envelope.
 */
export function decode(msg: ConsumeMessage | GetMessage, fallbackTopic: string): Decoded {
  const headers = msg.properties.headers ?? {};
  const topic = typeof headers[TOPIC_HEADER] === 'string' ? (headers[TOPIC_HEADER] as string) : fallbackTopic;
  let body: { envelope?: unknown; payload?: unknown };
  try {
    body = JSON.parse(msg.content.toString('utf8')) as typeof body;
    if (body === null || typeof body !== 'object') body = { envelope: undefined, payload: body };
  } catch {
    body = { envelope: undefined, payload: msg.content.toString('utf8') };
  }
  const earlier = numberHeader(headers[ATTEMPTS_HEADER]) ?? 0;
  const redeliveries = numberHeader(headers['x-delivery-count']) ?? (msg.fields.redelivered ? 1 : 0);
  return {
    message: { topic, envelope: body.envelope as Envelope, payload: body.payload },
    content: msg.content,
    attempt: earlier + redeliveries + 1,
    firstFailureAt: numberHeader(headers[FIRST_FAILURE_HEADER]),
  };
}

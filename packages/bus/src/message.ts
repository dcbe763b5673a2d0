import { compileValidator, type Envelope, type Validator } from '@flotilla/core';
import type { Static, TSchema } from '@sinclair/typebox';
import type { DeliveryPosition } from './adapter.js';
import { assertName } from './names.js';

/** A message type: its name, the topic it travels on and the TypeBox schema of its payload. */
export interface MessageDefinition<Type extends string = string, S extends TSchema = TSchema> {
  readonly kind: 'message';
  /** Message type, carried in `envelope.type`, e.g. `order.placed`. */
  readonly type: Type;
  /** Topic the message is published to; several types may share one topic (and its per-key order). */
  readonly topic: string;
  readonly schema: S;
  /** Compiled once; field pointers start with `/payload`. */
  readonly validator: Validator<S>;
}

/** A request type for request/reply: the schemas of the request and of its reply. */
export interface RequestDefinition<
  Type extends string = string,
  Req extends TSchema = TSchema,
  Rep extends TSchema = TSchema,
> {
  readonly kind: 'request';
  readonly type: Type;
  /** `envelope.type` of a successful reply: `<type>.reply`. */
  readonly replyType: string;
  readonly request: Req;
  readonly reply: Rep;
  readonly requestValidator: Validator<Req>;
  readonly replyValidator: Validator<Rep>;
}

/** Defines a message type; `options.topic` defaults to the type itself. */
export function defineMessage<const Type extends string, S extends TSchema>(
  type: Type,
  schema: S,
  options: { topic?: string } = {},
): MessageDefinition<Type, S> {
  assertName('message type', type);
  const topic = assertName('topic', options.topic ?? type);
  return { kind: 'message', type, topic, schema, validator: compileValidator(schema, '/payload') };
}

/** Defines a request type with the schema of its reply. */
export function defineRequest<const Type extends string, Req extends TSchema, Rep extends TSchema>(
  type: Type,
  schemas: { request: Req; reply: Rep },
): RequestDefinition<Type, Req, Rep> {
  assertName('request type', type);
  return {
    kind: 'request',
    type,
    replyType: `${type}.reply`,
    request: schemas.request,
    reply: schemas.reply,
    requestValidator: compileValidator(schemas.request, '/payload'),
    replyValidator: compileValidator(schemas.reply, '/reply'),
  };
}

/** The payload type of a message definition. */
export type PayloadOf<D> = D extends MessageDefinition<string, infer S> ? Static<S> : never;
/** The request payload type of a request definition. */
export type RequestOf<D> = D extends RequestDefinition<string, infer Req, TSchema> ? Static<Req> : never;
/** The reply payload type of a request definition. */
export type ReplyOf<D> = D extends RequestDefinition<string, TSchema, infer Rep> ? Static<Rep> : never;

/** A received, validated message as a handler sees it. */
export interface IncomingMessage<Type extends string = string, P = unknown> {
  readonly type: Type;
  readonly payload: P;
  /** The envelope; `envelope.attempt` is this delivery's number (1 on the first). */
  readonly envelope: Envelope;
  readonly topic: string;
  readonly group: string;
  /** Where the broker keeps the message (partition/offset on log brokers), when it says. */
  readonly position: DeliveryPosition | undefined;
}

/** One definition or several sharing a topic; a handler of several gets a union discriminated by `type`. */
export type Definitions = MessageDefinition | readonly MessageDefinition[];

type IncomingOfOne<D> = D extends MessageDefinition<infer T, infer S> ? IncomingMessage<T, Static<S>> : never;

/** What a handler of `D` receives. */
export type IncomingOf<D extends Definitions> = D extends readonly MessageDefinition[]
  ? IncomingOfOne<D[number]>
  : IncomingOfOne<D>;

/** A received request as a responder sees it. */
export type IncomingRequestOf<D> =
  D extends RequestDefinition<infer T, infer Req, TSchema> ? IncomingMessage<T, Static<Req>> : never;

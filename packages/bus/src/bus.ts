import { type Clock, createLogger, type Envelope, type Logger, newId, systemClock } from '@flotilla/core';
import type { Registry } from 'prom-client';
import type { BusAdapter, TransportMessage } from './adapter.js';
import type { DeadLetterStore } from './dead-letter.js';
import { createEnvelope, type PublishOptions } from './envelope.js';
import { BusClosedError, UnsupportedCapabilityError } from './errors.js';
import type {
  Definitions,
  IncomingMessage,
  IncomingOf,
  IncomingRequestOf,
  MessageDefinition,
  PayloadOf,
  ReplyOf,
  RequestDefinition,
  RequestOf,
} from './message.js';
import { BusMetrics } from './metrics.js';
import { assertInteger, assertName } from './names.js';
import {
  definitionList,
  resolveSubscribeOptions,
  type SubscribeDefaults,
  type SubscribeOptions,
} from './options.js';
import { createProcessor } from './processor.js';
import { Requester, type RequestOptions } from './requester.js';
import { createResponder } from './responder.js';

/** Options of `createBus`. */
export interface BusOptions {
  /** The broker behind the bus; the bus connects and closes it. */
  adapter: BusAdapter;
  /** This service's name: the default subscriber group. */
  service: string;
  /** This instance's id, for logs; default a new id. */
  instanceId?: string;
  logger?: Logger;
  /** Time source for envelopes, deadlines and retry delays. */
  clock?: Clock;
  /** Defaults for every subscription of this bus. */
  defaults?: SubscribeDefaults;
  /**
   * Prometheus metrics of this bus: a `BusMetrics`, or the registry to record them in. Without
   * it nothing is measured.
   */
  metrics?: BusMetrics | Registry;
}

/** A running subscription. */
export interface Subscription {
  readonly topic: string;
  readonly group: string;
  /** Stops taking messages and waits for the handlers in progress. */
  close(): Promise<void>;
}

/** Options of `bus.respond`. */
export interface RespondOptions {
  /** Responder group; default the target, so every responder instance competes for requests. */
  group?: string;
  /** Requests handled at once by this instance. Default 8. */
  concurrency?: number;
}

/** One messaging API over any adapter: typed publish/subscribe, competing consumers, request/reply, DLQ. */
export class Bus {
  readonly service: string;
  readonly instanceId: string;
  readonly adapter: BusAdapter;
  readonly logger: Logger;
  readonly clock: Clock;
  private readonly defaults: SubscribeDefaults;
  private readonly metrics: BusMetrics | undefined;
  private readonly subscriptions = new Set<Subscription>();
  private readonly requester: Requester;
  private closed = false;

  constructor(options: BusOptions) {
    this.service = assertName('service', options.service);
    this.instanceId = options.instanceId ?? newId();
    this.adapter = options.adapter;
    this.clock = options.clock ?? systemClock;
    this.logger = (
      options.logger ?? createLogger({ service: this.service, instance: this.instanceId })
    ).child({
      component: 'bus',
      adapter: options.adapter.name,
    });
    this.defaults = options.defaults ?? {};
    this.metrics =
      options.metrics === undefined || options.metrics instanceof BusMetrics
        ? options.metrics
        : new BusMetrics({ registry: options.metrics });
    this.requester = new Requester(this.adapter, this.clock, this.logger);
  }

  /** Validates and publishes a message to its topic; resolves with the envelope once the broker has it. */
  async publish<D extends MessageDefinition>(
    definition: D,
    payload: PayloadOf<D>,
    options: PublishOptions = {},
  ): Promise<Envelope> {
    this.assertOpen();
    definition.validator.assert(payload);
    const envelope = createEnvelope(definition.type, options, this.clock);
    await this.adapter.publish([{ topic: definition.topic, envelope, payload }]);
    this.metrics?.published(definition.topic);
    return envelope;
  }

  /**
   * Publishes already-built messages unchanged (same `messageId`): for the outbox relay and
   * tools. Payloads are not validated here; subscribers dead-letter what does not match.
   */
  async forward(messages: readonly TransportMessage[]): Promise<void> {
    this.assertOpen();
    if (messages.length === 0) return;
    await this.adapter.publish(messages);
    if (this.metrics !== undefined) {
      const perTopic = new Map<string, number>();
      for (const { topic } of messages) perTopic.set(topic, (perTopic.get(topic) ?? 0) + 1);
      for (const [topic, count] of perTopic) this.metrics.published(topic, count);
    }
  }

  /** Makes `group` (default: this service) a durable subscriber of the definitions' topic without consuming. */
  async declare(definitions: Definitions, options: { group?: string } = {}): Promise<void> {
    this.assertOpen();
    const { topic } = definitionList(definitions);
    await this.adapter.declareGroup(topic, assertName('group', options.group ?? this.service));
  }

  /** Handles every message of the definitions' topic that reaches this instance of the group. */
  async subscribe<const D extends Definitions>(
    definitions: D,
    options: SubscribeOptions,
    handler: (message: IncomingOf<D>) => Promise<void> | void,
  ): Promise<Subscription> {
    this.assertOpen();
    const { topic, list } = definitionList(definitions);
    const resolved = resolveSubscribeOptions(options, this.defaults, this.service);
    if (resolved.ordered && this.adapter.capabilities.orderedDelivery !== 'per-key') {
      throw new UnsupportedCapabilityError(
        `The ${this.adapter.name} bus adapter cannot deliver in key order`,
      );
    }
    const logger = this.logger.child({ topic, group: resolved.group });
    const deliveryHandler = createProcessor({
      topic,
      group: resolved.group,
      definitions: new Map(list.map((d) => [d.type, d])),
      maxAttempts: resolved.maxAttempts,
      backoff: resolved.backoff,
      clock: this.clock,
      logger,
      handler: handler as (message: IncomingMessage) => Promise<void> | void,
      metrics: this.metrics,
    });
    const consumer = await this.adapter.consume(
      { topic, group: resolved.group, concurrency: resolved.concurrency, ordered: resolved.ordered },
      deliveryHandler,
    );
    return this.track(topic, resolved.group, () => consumer.close());
  }

  /** Sends a request to `target` and waits for one reply until the deadline (`TimeoutError` after). */
  request<D extends RequestDefinition>(
    target: string,
    definition: D,
    payload: RequestOf<D>,
    options: RequestOptions = {},
  ): Promise<ReplyOf<D>> {
    this.assertOpen();
    assertName('target', target);
    return this.requester.request(target, definition, payload, options);
  }

  /** Answers requests sent to `target`; what the handler returns (or throws) is the reply. */
  async respond<const D extends RequestDefinition | readonly RequestDefinition[]>(
    target: string,
    definitions: D,
    handler: (
      request: IncomingRequestOf<D extends readonly RequestDefinition[] ? D[number] : D>,
    ) => Promise<unknown> | unknown,
    options: RespondOptions = {},
  ): Promise<Subscription> {
    this.assertOpen();
    if (!this.adapter.capabilities.requestReply) {
      throw new UnsupportedCapabilityError(
        `The ${this.adapter.name} bus adapter does not support request/reply`,
      );
    }
    assertName('target', target);
    const group = assertName('group', options.group ?? target);
    const concurrency = assertInteger(
      'concurrency',
      options.concurrency ?? this.defaults.concurrency ?? 8,
      1,
    );
    const list: readonly RequestDefinition[] = Array.isArray(definitions)
      ? (definitions as readonly RequestDefinition[])
      : [definitions as RequestDefinition];
    const deliveryHandler = createResponder({
      target,
      group,
      definitions: new Map(list.map((d) => [d.type, d])),
      adapter: this.adapter,
      clock: this.clock,
      logger: this.logger.child({ target, group }),
      handler: handler as (request: IncomingMessage) => unknown,
    });
    const consumer = await this.adapter.consume(
      { topic: target, group, concurrency, ordered: false },
      deliveryHandler,
    );
    return this.track(target, group, () => consumer.close());
  }

  /** Browse, replay and purge of dead letters. */
  get deadLetters(): DeadLetterStore {
    return this.adapter.deadLetters;
  }

  /** Closes the subscriptions (waiting for handlers in progress), pending requests and the adapter. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await this.requester.close();
    await this.adapter.close();
  }

  private track(topic: string, group: string, stop: () => Promise<void>): Subscription {
    const subscription: Subscription = {
      topic,
      group,
      close: async () => {
        if (this.subscriptions.delete(subscription)) await stop();
      },
    };
    this.subscriptions.add(subscription);
    return subscription;
  }

  private assertOpen(): void {
    if (this.closed) throw new BusClosedError('The bus is closed');
  }
}

/** Creates a bus over `options.adapter` and connects the adapter. */
export async function createBus(options: BusOptions): Promise<Bus> {
  const bus = new Bus(options);
  await options.adapter.connect();
  return bus;
}

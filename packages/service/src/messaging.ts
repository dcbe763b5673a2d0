import type {
  Bus,
  Definitions,
  Inbox,
  IncomingOf,
  MessageDefinition,
  Outbox,
  OutboxRelay,
  PublishOptions,
  Subscription,
} from '@flotilla/bus';
import { ConfigurationError, type Envelope, type Logger } from '@flotilla/core';
import type pg from 'pg';
import type { Registry } from 'prom-client';
import { newSpanId, newTraceId, parseTraceparent } from './context.js';
import type { Dependency } from './dependencies.js';
import {
  adapterFromEnv,
  type BusSettings,
  causeOptions,
  type EventHandlerSpec,
  type Transaction,
} from './events.js';

/** What messaging needs of its service. */
export interface MessagingHost {
  readonly name: string;
  readonly instanceId: string;
  readonly log: Logger;
  readonly env: NodeJS.ProcessEnv;
  readonly metrics: Registry;
  /** The service's pool, when it has a database. */
  pool(): pg.Pool | undefined;
}

/**
 * A service's side of the bus: the connection (a start-up dependency), the outbox and its relay
 * when the service has a database, the inbox, and the subscriptions of its `events`.
 */
export class Messaging {
  private messageBus: Bus | undefined;
  private outbox: Outbox | undefined;
  private relay: OutboxRelay | undefined;
  private inbox: Inbox | undefined;
  private readonly subscriptions: Subscription[] = [];

  constructor(private readonly host: MessagingHost) {}

  /** The bus; throws before it is connected. */
  get bus(): Bus {
    if (!this.messageBus) {
      throw new ConfigurationError(`Service ${this.host.name} declared no bus (createService({ bus }))`);
    }
    return this.messageBus;
  }

  /** Connecting to the broker, as a dependency the service waits for at start. */
  dependency(settings: BusSettings): Dependency {
    return {
      name: 'bus',
      check: async () => {
        if (this.messageBus) return undefined;
        try {
          const { createBus } = await import('@flotilla/bus');
          const adapter = settings.adapter ?? (await adapterFromEnv(this.host.env));
          this.messageBus = await createBus({
            adapter,
            service: this.host.name,
            instanceId: this.host.instanceId,
            logger: this.host.log.child({ component: 'bus' }),
            metrics: this.host.metrics,
          });
          return undefined;
        } catch (error) {
          if (error instanceof ConfigurationError) throw error;
          return `broker unreachable: ${(error as Error).message}`;
        }
      },
    };
  }

  /** Outbox tables and relay, inbox, and the declared subscriptions (`proto`: the handler context prototype). */
  async start(
    settings: BusSettings,
    events: readonly EventHandlerSpec<unknown>[],
    proto: object,
  ): Promise<void> {
    const bus = this.messageBus;
    if (!bus) return;
    const pool = this.host.pool();
    if (pool && settings.outbox !== false) {
      const { createInbox, createOutbox, migrateOutboxInbox, startOutboxRelay } = await import(
        '@flotilla/bus'
      );
      await migrateOutboxInbox({ pool, logger: this.host.log });
      this.outbox = createOutbox();
      this.inbox = createInbox();
      this.relay = startOutboxRelay({
        pool,
        publish: (messages) => bus.forward(messages),
        logger: this.host.log,
      });
    }
    for (const spec of events) {
      const { idempotent, ...options } = spec.options;
      const group = options.group ?? this.host.name;
      const subscription = await bus.subscribe(spec.definitions, options, async (message) => {
        const ctx = this.eventContext(proto, message.envelope);
        if (!idempotent) return spec.handler(message as IncomingOf<Definitions>, ctx);
        const inbox = this.inbox as Inbox;
        await inbox.handle(
          this.requirePool(),
          `${group}.${message.topic}`,
          message.envelope,
          async (client) => {
            ctx.tx = this.transactionOf(client, message.envelope);
            await spec.handler(message as IncomingOf<Definitions>, ctx);
          },
        );
      });
      this.subscriptions.push(subscription);
    }
  }

  /** Publishes, through the outbox when there is one. */
  publish(
    cause: Envelope | undefined,
    definition: MessageDefinition,
    payload: unknown,
    options?: PublishOptions,
  ): Promise<Envelope> {
    const enriched = causeOptions(cause, options);
    const pool = this.host.pool();
    if (this.outbox && pool) return this.outbox.publish(pool, definition, payload as never, enriched);
    return this.bus.publish(definition, payload as never, enriched);
  }

  /** A transaction whose `publish` writes to the outbox. */
  async transaction<T>(cause: Envelope | undefined, fn: (tx: Transaction) => Promise<T>): Promise<T> {
    const { withTransaction } = await import('@flotilla/postgres');
    return withTransaction(this.requirePool(), (client) => fn(this.transactionOf(client, cause)));
  }

  /** Stops taking messages; handlers in progress finish (unacknowledged messages go to other instances). */
  async stopConsuming(): Promise<void> {
    await Promise.allSettled(this.subscriptions.splice(0).map((sub) => sub.close()));
  }

  /** Stops consuming, the relay and the bus. */
  async close(): Promise<void> {
    await this.stopConsuming();
    await this.relay?.stop().catch(() => {});
    this.relay = undefined;
    await this.messageBus?.close().catch(() => {});
    this.messageBus = undefined;
  }

  private requirePool(): pg.Pool {
    const pool = this.host.pool();
    if (!pool) {
      throw new ConfigurationError(
        `Service ${this.host.name} declared no database (createService({ database }))`,
      );
    }
    return pool;
  }

  private transactionOf(client: pg.PoolClient, cause: Envelope | undefined): Transaction {
    const outbox = this.outbox;
    return {
      query: client.query.bind(client) as pg.PoolClient['query'],
      publish: (definition, payload, options) => {
        if (!outbox) {
          throw new ConfigurationError(
            `Service ${this.host.name} publishes in a transaction, which needs the outbox (createService({ bus: true, database }))`,
          );
        }
        return outbox.publish(client, definition, payload, causeOptions(cause, options));
      },
    };
  }

  /** A handler context for a message: its correlation as request id, its trace, publishing caused by it. */
  private eventContext(proto: object, envelope: Envelope): Record<string, unknown> {
    const parent = parseTraceparent(envelope.traceparent);
    const ctx = Object.create(proto) as Record<string, unknown>;
    ctx.requestId = envelope.correlationId ?? envelope.messageId;
    ctx.traceId = parent?.traceId ?? newTraceId();
    ctx.spanId = newSpanId();
    ctx.traceFlags = parent?.flags ?? '01';
    ctx.tracestate = undefined;
    ctx.deadline = undefined;
    ctx.principal = undefined;
    ctx.principalHeader = undefined;
    ctx.requestLog = undefined;
    ctx.publish = (definition: MessageDefinition, payload: unknown, options?: PublishOptions) =>
      this.publish(envelope, definition, payload, options);
    ctx.transaction = <T>(fn: (tx: Transaction) => Promise<T>) => this.transaction(envelope, fn);
    ctx.tx = undefined;
    return ctx;
  }
}

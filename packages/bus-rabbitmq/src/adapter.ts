import type {
  AdapterCapabilities,
  AdapterTestHooks,
  BusAdapter,
  Consumer,
  ConsumeSpec,
  DeadLetterRequest,
  DeliveryHandler,
  ReplyChannel,
  TransportMessage,
} from '@flotilla/bus';
import { BusClosedError } from '@flotilla/bus';
import {
  ConfigurationError,
  createLogger,
  EnvVars,
  type Logger,
  newId,
  positiveIntegerOption,
} from '@flotilla/core';
import { AmqpConnection } from './connection.js';
import { RabbitConsumer } from './consumer.js';
import { deadLetterRecord, RabbitDeadLetterStore } from './dead-letters.js';
import { RabbitReplyChannel } from './replies.js';
import {
  ATTEMPTS_HEADER,
  DEAD_LETTER_QUEUE,
  DELAY_EXCHANGE,
  declareDeadLetters,
  declareDelay,
  declareGroup,
  delayHeaders,
  delayTier,
  FIRST_FAILURE_HEADER,
  groupQueue,
  type QueueType,
  topicExchange,
} from './topology.js';
import { type Decoded, encode, publishOptions } from './wire.js';

/** Options of `createRabbitmqAdapter`. */
export interface RabbitmqAdapterOptions {
  /** `amqp://` URL (the path selects the vhost); default `FLOTILLA_BUS_URL`. */
  url?: string;
  /** Names this instance's connection (`connection_name`, shown by the management UI); default a new id. */
  instanceId?: string;
  /** Type of the group queues; default `quorum` (replicated, counts redeliveries). */
  queueType?: QueueType;
  /** How often a standby `ordered` consumer tries to become the active one; default 1 s. */
  standbyRetryMs?: number;
  logger?: Logger;
}

/** The RabbitMQ transport: a fanout exchange per topic, a durable queue per group, confirms and manual acks. */
export class RabbitmqBusAdapter implements BusAdapter {
  readonly name = 'rabbitmq';
  readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'per-key',
    requestReply: true,
    partitions: false,
    durable: true,
  };
  readonly instanceId: string;
  /** `connection_name` of this adapter's connection. */
  readonly connectionName: string;
  readonly deadLetters: RabbitDeadLetterStore;
  readonly testHooks: AdapterTestHooks;
  private readonly url: string;
  private readonly queueType: QueueType;
  private readonly standbyRetryMs: number;
  private readonly logger: Logger;
  private readonly connection: AmqpConnection;
  private readonly consumers = new Set<RabbitConsumer>();
  private readonly replyChannels = new Map<string, RabbitReplyChannel>();
  private readonly delays = new Set<number>();
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: RabbitmqAdapterOptions = {}) {
    const url = options.url ?? process.env[EnvVars.busUrl];
    if (url === undefined || !/^amqps?:\/\//.test(url)) {
      throw new ConfigurationError(
        `No RabbitMQ URL: pass url or set ${EnvVars.busUrl} to an amqp:// URL, got ${url ?? 'nothing'}`,
        { data: { field: EnvVars.busUrl } },
      );
    }
    this.url = url;
    this.queueType = options.queueType ?? 'quorum';
    if (this.queueType !== 'quorum' && this.queueType !== 'classic') {
      throw new ConfigurationError(`RabbitMQ queueType should be quorum or classic, got ${this.queueType}`, {
        data: { field: 'queueType', value: this.queueType },
      });
    }
    this.standbyRetryMs = positiveIntegerOption('RabbitMQ', 'standbyRetryMs', options.standbyRetryMs ?? 1000);
    this.instanceId = options.instanceId ?? newId();
    this.connectionName = `flotilla-bus-${this.instanceId}`;
    this.logger = (options.logger ?? createLogger({ service: 'bus' })).child({ adapter: 'rabbitmq' });
    this.connection = new AmqpConnection(this.url, this.connectionName, this.logger);
    this.deadLetters = new RabbitDeadLetterStore(this.connection);
    this.testHooks = {
      dropConnections: async () => this.connection.drop(),
      crash: async () => {
        for (const consumer of this.consumers) consumer.abandon();
        this.connection.kill();
        this.state = 'closed';
      },
    };
  }

  async connect(): Promise<void> {
    if (this.state !== 'new') throw new BusClosedError('The rabbitmq bus adapter was already connected');
    this.state = 'open';
    try {
      await this.connection.withChannel('declare the dead-letter queue', declareDeadLetters);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const channel of this.replyChannels.values()) await channel.close();
    await this.connection.close();
  }

  async publish(messages: readonly TransportMessage[]): Promise<void> {
    this.requireOpen();
    await this.connection.publishAll(
      messages.map((message) => ({
        exchange: topicExchange(message.topic),
        routingKey: '',
        ...encode(message),
        declare: true,
      })),
    );
  }

  async declareGroup(topic: string, group: string): Promise<void> {
    this.requireOpen();
    await this.connection.withChannel('declare group', (channel) =>
      declareGroup(channel, topic, group, this.queueType),
    );
  }

  async consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer> {
    this.requireOpen();
    const queue = groupQueue(spec.topic, spec.group);
    await this.declareGroup(spec.topic, spec.group);
    const consumer = new RabbitConsumer(
      {
        connection: this.connection,
        logger: this.logger.child({ topic: spec.topic, group: spec.group }),
        queueType: this.queueType,
        standbyRetryMs: this.standbyRetryMs,
        requeueLater: (q, message, attempts, firstFailureAt, delayMs) =>
          this.requeueLater(q, message, attempts, firstFailureAt, delayMs),
        storeDeadLetter: (_q, message, group, request) => this.storeDeadLetter(message, group, request),
      },
      spec,
      queue,
      handler,
    );
    const untrack = this.connection.track(consumer);
    this.consumers.add(consumer);
    await consumer.resume();
    return {
      close: async () => {
        untrack();
        this.consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel> {
    this.requireOpen();
    const address = `flotilla.reply.${this.instanceId}.${newId()}`;
    let untrack = () => {};
    const channel = new RabbitReplyChannel(address, this.connection, onReply, this.logger, () => {
      untrack();
      this.replyChannels.delete(address);
    });
    untrack = this.connection.track(channel);
    this.replyChannels.set(address, channel);
    await channel.resume();
    return channel;
  }

  async sendReply(address: string, message: TransportMessage): Promise<void> {
    this.requireOpen();
    // Default exchange, routed by queue name; without `mandatory`, a reply to a queue that is
    // gone is dropped by the broker, as the contract asks.
    const { content, options } = encode(message);
    await this.connection.publish('', address, content, options);
  }

  /** Retry copy: through the delay queue of the delay's tier back to `queue`, or straight there. */
  private async requeueLater(
    queue: string,
    message: Decoded,
    attempts: number,
    firstFailureAt: number,
    delayMs: number,
  ): Promise<void> {
    const headers: Record<string, unknown> = {
      [ATTEMPTS_HEADER]: attempts,
      [FIRST_FAILURE_HEADER]: firstFailureAt,
    };
    if (delayMs <= 0) {
      const options = publishOptions(message.message.topic, message.message.envelope, headers);
      await this.connection.publish('', queue, message.content, options);
      return;
    }
    const tier = delayTier(delayMs);
    if (!this.delays.has(tier)) {
      await this.connection.withChannel('declare delay queue', (channel) => declareDelay(channel, tier));
      this.delays.add(tier);
    }
    const options = publishOptions(message.message.topic, message.message.envelope, {
      ...headers,
      ...delayHeaders(tier),
    });
    await this.connection.publish(DELAY_EXCHANGE, queue, message.content, options);
  }

  private async storeDeadLetter(message: Decoded, group: string, request: DeadLetterRequest): Promise<void> {
    const record = deadLetterRecord(message, group, request);
    const options = publishOptions(record.topic, record.envelope, {});
    await this.connection.publish('', DEAD_LETTER_QUEUE, Buffer.from(JSON.stringify(record)), options);
  }

  private requireOpen(): void {
    if (this.state !== 'open') {
      throw new BusClosedError(
        `The rabbitmq bus adapter is ${this.state === 'new' ? 'not connected' : 'closed'}`,
      );
    }
  }
}

/** Creates a RabbitMQ bus adapter (connected by `createBus`). */
export function createRabbitmqAdapter(options: RabbitmqAdapterOptions = {}): RabbitmqBusAdapter {
  return new RabbitmqBusAdapter(options);
}

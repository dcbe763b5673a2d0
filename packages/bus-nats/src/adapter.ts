import type {
  AdapterCapabilities,
  AdapterTestHooks,
  BusAdapter,
  Consumer,
  ConsumeSpec,
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
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { FailureLog, NatsConsumer } from './consumer.js';
import { NatsDeadLetterStore, natsError } from './dead-letters.js';
import { Names } from './names.js';
import { NatsReplyChannel } from './replies.js';
import { Topology } from './topology.js';

/** Options of `createNatsAdapter`. */
export interface NatsAdapterOptions {
  /** `nats://` server URL(s), comma-separated; default `FLOTILLA_BUS_URL`. */
  url?: string;
  /** Starts every stream name (`<prefix>_<topic>`) and subject (`<prefix>.<topic>.…`); default `flotilla`. */
  prefix?: string;
  /** Redelivery timeout of an unacknowledged message (`ack_wait`), kept alive while its handler runs; default 30 s. */
  ackWaitMs?: number;
  /** `max_ack_pending` of an unordered group's consumer (all instances together); default 1000. */
  maxAckPending?: number;
  /** `Nats-Msg-Id` de-duplication window of new streams; default 2 min. */
  duplicateWindowMs?: number;
  /** Replicas of new streams (clustered JetStream); default 1. */
  replicas?: number;
  /** Names this instance's connection and reply subjects; default a new id. */
  instanceId?: string;
  logger?: Logger;
}

const positive = (field: string, value: number): number =>
  positiveIntegerOption('NATS bus adapter', field, value);

/**
 * NATS JetStream: a stream per topic (interest retention), a durable pull consumer per group,
 * explicit acks, `Nats-Msg-Id` de-duplication, dead letters in a stream of their own.
 */
export class NatsBusAdapter implements BusAdapter {
  readonly name = 'nats';
  readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'per-key',
    requestReply: true,
    partitions: false,
    durable: true,
  };
  readonly instanceId: string;
  readonly names: Names;
  readonly deadLetters: NatsDeadLetterStore;
  readonly testHooks: AdapterTestHooks;
  private readonly servers: string[];
  private readonly ackWaitMs: number;
  private readonly maxAckPending: number;
  private readonly duplicateWindowMs: number;
  private readonly replicas: number;
  private readonly logger: Logger;
  private readonly failures = new FailureLog();
  private readonly topology: Topology;
  private readonly consumers = new Set<NatsConsumer>();
  private readonly replyChannels = new Map<string, NatsReplyChannel>();
  private nc: NatsConnection | undefined;
  private jsClient: JetStreamClient | undefined;
  private jsManager: JetStreamManager | undefined;
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: NatsAdapterOptions = {}) {
    const url = options.url ?? process.env[EnvVars.busUrl];
    if (url === undefined || url === '') {
      throw new ConfigurationError(`No bus server: pass url or set ${EnvVars.busUrl} to a nats:// URL`, {
        data: { field: EnvVars.busUrl },
      });
    }
    this.servers = url.split(',').map((s) => s.trim());
    for (const server of this.servers) {
      if (!/^(nats|tls):\/\//.test(server)) {
        const shown = redact(server);
        throw new ConfigurationError(`NATS bus adapter url should be nats:// or tls://, got ${shown}`, {
          data: { field: 'url', value: shown },
        });
      }
    }
    this.names = new Names(options.prefix ?? 'flotilla');
    this.instanceId = options.instanceId ?? newId();
    this.ackWaitMs = positive('ackWaitMs', options.ackWaitMs ?? 30_000);
    this.maxAckPending = positive('maxAckPending', options.maxAckPending ?? 1000);
    this.duplicateWindowMs = positive('duplicateWindowMs', options.duplicateWindowMs ?? 120_000);
    this.replicas = positive('replicas', options.replicas ?? 1);
    this.logger = (options.logger ?? createLogger({ service: 'bus' })).child({ adapter: 'nats' });
    this.topology = new Topology({
      names: this.names,
      logger: this.logger,
      ackWaitMs: this.ackWaitMs,
      maxAckPending: this.maxAckPending,
      duplicateWindowMs: this.duplicateWindowMs,
      replicas: this.replicas,
      jsm: () => this.jsm(),
      open: () => this.state === 'open',
    });
    this.deadLetters = new NatsDeadLetterStore({
      names: this.names,
      replicas: this.replicas,
      js: () => this.js(),
      jsm: () => this.jsm(),
      ensureStream: (topic) => this.topology.ensureStream(topic),
    });
    this.testHooks = {
      // Closes the socket under the client, as a network cut would; the client redials.
      dropConnections: () => this.connection().reconnect(),
      crash: async () => {
        for (const consumer of this.consumers) consumer.abandon();
        this.consumers.clear();
        this.state = 'closed';
        await this.nc?.close().catch(() => {});
      },
    };
  }

  async connect(): Promise<void> {
    if (this.state !== 'new') throw new BusClosedError('The NATS bus adapter was already connected');
    this.state = 'open';
    try {
      this.nc = await connect({
        servers: this.servers,
        name: `flotilla-bus-${this.instanceId}`,
        maxReconnectAttempts: -1,
        // The client's 2 s default between dials to the same server is a long stall for a bus.
        reconnectTimeWait: 500,
        waitOnFirstConnect: false,
      });
    } catch (error) {
      this.state = 'closed';
      throw natsError(`connecting to ${this.servers.map(redact).join(',')}`, error);
    }
    this.jsClient = jetstream(this.nc);
    this.jsManager = await jetstreamManager(this.nc).catch(async (error: unknown) => {
      await this.close();
      throw natsError('opening JetStream', error);
    });
    void this.watchStatus(this.nc);
  }

  /** Logs connection changes; after a reconnect, consumers pull again at once. */
  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.logger.warn({ server: status.server }, 'NATS connection lost');
      if (status.type === 'reconnect') {
        this.logger.info({ server: status.server }, 'NATS connection restored');
        for (const consumer of this.consumers) consumer.repull();
      }
    }
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const channel of this.replyChannels.values()) await channel.close();
    await this.nc?.close().catch(() => {});
  }

  async publish(messages: readonly TransportMessage[]): Promise<void> {
    const js = this.js();
    await Promise.all(
      [...new Set(messages.map((m) => m.topic))].map((topic) => this.topology.ensureStream(topic)),
    );
    // One connection delivers in send order, so the batch is pipelined and stays in order.
    await Promise.all(
      messages.map((m) =>
        this.topology.withRetry(`publish to ${m.topic}`, () =>
          js.publish(
            this.names.messageSubject(m.topic),
            JSON.stringify({ envelope: m.envelope, payload: m.payload ?? null }),
            { msgID: m.envelope.messageId },
          ),
        ),
      ),
    );
  }

  async declareGroup(topic: string, group: string): Promise<void> {
    await this.topology.ensureGroup(topic, group, undefined);
  }

  async consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer> {
    await this.topology.ensureGroup(spec.topic, spec.group, spec.ordered ? 1 : this.maxAckPending);
    const consumer = new NatsConsumer(
      {
        names: this.names,
        logger: this.logger.child({ topic: spec.topic, group: spec.group }),
        ackWaitMs: this.ackWaitMs,
        deadLetters: this.deadLetters,
        failures: this.failures,
        js: () => this.js(),
      },
      spec,
      handler,
    );
    this.consumers.add(consumer);
    return {
      close: async () => {
        this.consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel> {
    const address = this.names.replySubject(this.instanceId, newId());
    const channel = new NatsReplyChannel(address, this.connection(), onReply, this.logger, () =>
      this.replyChannels.delete(address),
    );
    this.replyChannels.set(address, channel);
    return channel;
  }

  async sendReply(address: string, message: TransportMessage): Promise<void> {
    try {
      this.connection().publish(
        address,
        JSON.stringify({ envelope: message.envelope, payload: message.payload }),
      );
    } catch (error) {
      throw natsError(`sending a reply to ${address}`, error);
    }
  }

  private connection(): NatsConnection {
    if (this.state !== 'open' || this.nc === undefined) {
      throw new BusClosedError(
        `The NATS bus adapter is ${this.state === 'new' ? 'not connected' : 'closed'}`,
      );
    }
    return this.nc;
  }

  private js(): JetStreamClient {
    this.connection();
    return this.jsClient as JetStreamClient;
  }

  private jsm(): JetStreamManager {
    this.connection();
    return this.jsManager as JetStreamManager;
  }
}

/** A server URL with its credentials masked, for messages. */
function redact(server: string): string {
  return server.replace(/\/\/[^@/]*@/, '//***@');
}

/** Creates a NATS JetStream bus adapter (connected by `createBus`). */
export function createNatsAdapter(options: NatsAdapterOptions = {}): NatsBusAdapter {
  return new NatsBusAdapter(options);
}

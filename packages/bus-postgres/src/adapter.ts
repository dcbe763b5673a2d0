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
import { createPool, migrate } from '@flotilla/postgres';
import pg from 'pg';
import { PgConsumer } from './consumer.js';
import { PgDeadLetterStore } from './dead-letters.js';
import { Listener } from './listener.js';
import { PgReplyChannel } from './replies.js';
import { DECLARE_GROUP, PUBLISH, QUEUE_CHANNEL, REPLY_CHANNEL, SEND_REPLY } from './sql.js';
import { withRetry } from './transient.js';

/** Namespace of this adapter's migrations in `flotilla_migrations`. */
export const POSTGRES_BUS_MIGRATIONS_NAMESPACE = 'flotilla-bus-postgres';

/** Options of `createPostgresAdapter`. */
export interface PostgresAdapterOptions {
  /** Database of the bus; default `FLOTILLA_BUS_URL`, else `DATABASE_URL`. */
  url?: string;
  /** Names this instance's connections (`application_name`); default a new id. */
  instanceId?: string;
  /** Pool size; default 10. */
  maxConnections?: number;
  /** Visibility timeout of a claimed message, renewed while its handler runs; default 30 s. */
  leaseMs?: number;
  /** Poll when no NOTIFY arrives (delayed retries, expired leases, lost notifications); default 1 s. */
  pollIntervalMs?: number;
  /** How long an untaken reply is kept; default 60 s. */
  replyTtlMs?: number;
  /** Apply the adapter's migrations on connect; default true. */
  migrate?: boolean;
  logger?: Logger;
}

const positive = (field: string, value: number): number =>
  positiveIntegerOption('Postgres bus adapter', field, value);

/** The PostgreSQL transport: queue tables claimed with SKIP LOCKED, woken by LISTEN/NOTIFY. */
export class PostgresBusAdapter implements BusAdapter {
  readonly name = 'postgres';
  readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'per-key',
    requestReply: true,
    partitions: false,
    durable: true,
  };
  readonly instanceId: string;
  /** `application_name` of every connection of this adapter. */
  readonly applicationName: string;
  readonly deadLetters: PgDeadLetterStore;
  readonly testHooks: AdapterTestHooks;
  private readonly url: string;
  private readonly leaseMs: number;
  private readonly pollIntervalMs: number;
  private readonly replyTtlMs: number;
  private readonly logger: Logger;
  private pool: pg.Pool | undefined;
  private listener: Listener | undefined;
  private readonly consumers = new Map<string, Set<PgConsumer>>();
  private readonly replyChannels = new Map<string, PgReplyChannel>();
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(private readonly options: PostgresAdapterOptions = {}) {
    const url = options.url ?? process.env[EnvVars.busUrl] ?? process.env[EnvVars.databaseUrl];
    if (url === undefined || url === '') {
      throw new ConfigurationError(
        `No bus database: pass url or set ${EnvVars.busUrl} (or ${EnvVars.databaseUrl}) to a postgres:// URL`,
        { data: { field: EnvVars.busUrl } },
      );
    }
    this.url = url;
    this.instanceId = options.instanceId ?? newId();
    this.applicationName = `flotilla-bus-${this.instanceId}`.slice(0, 63);
    this.leaseMs = positive('leaseMs', options.leaseMs ?? 30_000);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 1000);
    this.replyTtlMs = positive('replyTtlMs', options.replyTtlMs ?? 60_000);
    this.logger = (options.logger ?? createLogger({ service: 'bus' })).child({ adapter: 'postgres' });
    this.deadLetters = new PgDeadLetterStore(() => this.requirePool());
    this.testHooks = {
      dropConnections: () => this.terminateBackends(),
      crash: async () => {
        for (const set of this.consumers.values()) for (const consumer of set) consumer.abandon();
        await this.terminateBackends();
        await this.close();
      },
    };
  }

  async connect(): Promise<void> {
    if (this.state !== 'new') throw new BusClosedError('The postgres bus adapter was already connected');
    this.state = 'open';
    this.pool = createPool({
      url: this.url,
      max: positive('maxConnections', this.options.maxConnections ?? 10),
      applicationName: this.applicationName,
      logger: this.logger,
    });
    try {
      await this.start(this.pool);
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  private async start(pool: pg.Pool): Promise<void> {
    if (this.options.migrate !== false) {
      await migrate({
        pool,
        dir: new URL('../migrations/', import.meta.url),
        namespace: POSTGRES_BUS_MIGRATIONS_NAMESPACE,
      });
    }
    this.listener = new Listener({
      connectionString: this.url,
      applicationName: this.applicationName,
      channels: [QUEUE_CHANNEL, REPLY_CHANNEL],
      logger: this.logger,
      onNotification: (channel, payload) => {
        if (channel === QUEUE_CHANNEL) for (const c of this.consumers.get(payload) ?? []) c.wake();
        else this.replyChannels.get(payload)?.wake();
      },
      onReconnect: () => {
        for (const set of this.consumers.values()) for (const c of set) c.wake();
        for (const channel of this.replyChannels.values()) channel.wake();
      },
    });
    await this.listener.start();
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const channel of this.replyChannels.values()) await channel.close();
    await this.listener?.stop();
    await this.pool?.end().catch(() => {});
  }

  async publish(messages: readonly TransportMessage[]): Promise<void> {
    const pool = this.requirePool();
    const columns: [string[], string[], (string | null)[], string[], string[]] = [[], [], [], [], []];
    for (const m of messages) {
      columns[0].push(m.topic);
      columns[1].push(m.envelope.messageId);
      columns[2].push(m.envelope.key ?? null);
      columns[3].push(JSON.stringify(m.envelope));
      columns[4].push(JSON.stringify(m.payload ?? null));
    }
    await withRetry(
      'publish',
      () => pool.query({ name: 'flotilla_bus_publish', text: PUBLISH, values: columns }),
      this.logger,
    );
  }

  async declareGroup(topic: string, group: string): Promise<void> {
    const pool = this.requirePool();
    await withRetry('declare group', () => pool.query(DECLARE_GROUP, [topic, group]), this.logger);
  }

  async consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer> {
    await this.declareGroup(spec.topic, spec.group);
    const consumer = new PgConsumer(
      {
        pool: this.requirePool(),
        logger: this.logger.child({ topic: spec.topic, group: spec.group }),
        leaseMs: this.leaseMs,
        pollIntervalMs: this.pollIntervalMs,
      },
      spec,
      handler,
    );
    let set = this.consumers.get(spec.topic);
    if (set === undefined) {
      set = new Set();
      this.consumers.set(spec.topic, set);
    }
    set.add(consumer);
    return {
      close: async () => {
        this.consumers.get(spec.topic)?.delete(consumer);
        await consumer.close();
      },
    };
  }

  async openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel> {
    const address = `${this.instanceId}.${newId()}`;
    const channel = new PgReplyChannel(
      address,
      this.requirePool(),
      onReply,
      this.logger,
      this.pollIntervalMs,
      () => this.replyChannels.delete(address),
    );
    this.replyChannels.set(address, channel);
    return channel;
  }

  async sendReply(address: string, message: TransportMessage): Promise<void> {
    const pool = this.requirePool();
    const params = [
      address,
      JSON.stringify(message.envelope),
      JSON.stringify(message.payload ?? null),
      this.replyTtlMs,
    ];
    await withRetry('reply', () => pool.query(SEND_REPLY, params), this.logger);
  }

  /** Kills this adapter's server sessions, as a network cut or server restart would. */
  private async terminateBackends(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'flotilla-bus-admin' });
    await client.connect();
    try {
      await client.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
        [this.applicationName],
      );
    } finally {
      await client.end();
    }
  }

  private requirePool(): pg.Pool {
    if (this.state !== 'open' || this.pool === undefined) {
      throw new BusClosedError(
        `The postgres bus adapter is ${this.state === 'new' ? 'not connected' : 'closed'}`,
      );
    }
    return this.pool;
  }
}

/** Creates a PostgreSQL bus adapter (connected by `createBus`). */
export function createPostgresAdapter(options: PostgresAdapterOptions = {}): PostgresBusAdapter {
  return new PostgresBusAdapter(options);
}

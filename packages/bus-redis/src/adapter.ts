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
import { Redis } from 'ioredis';
import { type ConsumerContext, RedisConsumer } from './consumer.js';
import { RedisDeadLetterStore } from './dead-letters.js';
import { wrapRedis } from './errors.js';
import { Keys } from './keys.js';
import { OrderedRedisConsumer } from './ordered-consumer.js';
import { RedisReplyChannel } from './replies.js';
import { type ScriptedRedis, withScripts } from './scripts.js';

/** How topic streams are trimmed at publish: trimming can drop entries a group has not consumed yet. */
export type StreamTrim = { maxLen: number } | { maxAgeMs: number } | false;

/** Options of `createRedisAdapter`. */
export interface RedisAdapterOptions {
  /** A `redis://` URL; default `FLOTILLA_BUS_URL`. */
  url?: string;
  /** Prefix of every key; default `flotilla:bus:`. */
  keyPrefix?: string;
  /** Names this instance's connections (`CLIENT SETNAME flotilla-bus-<id>`); default a new id. */
  instanceId?: string;
  /** An entry held this long without renewal is claimed by another consumer; default 30 s. */
  visibilityTimeoutMs?: number;
  /** Blocking-read timeout and period of claims of stuck entries and due retries; default 1 s. */
  pollIntervalMs?: number;
  /** How long an untaken reply is kept; default 60 s. */
  replyTtlMs?: number;
  /** TTL of an ordered group's lease: how long a crashed active consumer holds its group up; default 10 s. */
  leaseTtlMs?: number;
  /** How often a standby ordered consumer tries to become the active one; default 1 s. */
  standbyRetryMs?: number;
  /** Trimming of topic streams (MAXLEN ~ or MINID ~); default `{ maxLen: 1_000_000 }`. */
  trim?: StreamTrim;
  logger?: Logger;
}

const positive = (field: string, value: number): number =>
  positiveIntegerOption('Redis bus adapter', field, value);

/** Redis Streams: a stream per topic, a consumer group per subscribing group, XAUTOCLAIM recovery. */
export class RedisBusAdapter implements BusAdapter {
  readonly name = 'redis';
  readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'per-key',
    requestReply: true,
    partitions: false,
    // Only as durable as the server's persistence (AOF with appendfsync always); see the README.
    durable: false,
  };
  readonly instanceId: string;
  /** `CLIENT SETNAME` of every connection of this adapter. */
  readonly connectionName: string;
  readonly keys: Keys;
  readonly deadLetters: RedisDeadLetterStore;
  readonly testHooks: AdapterTestHooks;
  private readonly url: string;
  private readonly visibilityTimeoutMs: number;
  private readonly pollIntervalMs: number;
  private readonly replyTtlMs: number;
  private readonly leaseTtlMs: number;
  private readonly standbyRetryMs: number;
  private readonly trimArgs: (string | number)[];
  private readonly logger: Logger;
  private redis: ScriptedRedis | undefined;
  private readonly consumers = new Set<RedisConsumer>();
  private readonly replyChannels = new Set<RedisReplyChannel>();
  private state: 'new' | 'open' | 'closed' = 'new';

  constructor(options: RedisAdapterOptions = {}) {
    const url = options.url ?? process.env[EnvVars.busUrl];
    if (url === undefined || !/^rediss?:\/\//.test(url)) {
      throw new ConfigurationError(`Redis bus adapter url should be a redis:// URL, got ${url}`, {
        data: { field: 'url', value: url },
      });
    }
    this.url = url;
    this.instanceId = options.instanceId ?? newId();
    this.connectionName = `flotilla-bus-${this.instanceId}`;
    this.keys = new Keys(options.keyPrefix ?? 'flotilla:bus:');
    this.visibilityTimeoutMs = positive('visibilityTimeoutMs', options.visibilityTimeoutMs ?? 30_000);
    this.pollIntervalMs = positive('pollIntervalMs', options.pollIntervalMs ?? 1000);
    this.replyTtlMs = positive('replyTtlMs', options.replyTtlMs ?? 60_000);
    this.leaseTtlMs = positive('leaseTtlMs', options.leaseTtlMs ?? 10_000);
    this.standbyRetryMs = positive('standbyRetryMs', options.standbyRetryMs ?? 1000);
    const trim = options.trim ?? { maxLen: 1_000_000 };
    this.trimArgs =
      trim === false
        ? []
        : 'maxLen' in trim
          ? ['MAXLEN', '~', positive('trim.maxLen', trim.maxLen)]
          : ['MINID', '~', positive('trim.maxAgeMs', trim.maxAgeMs)];
    this.logger = (options.logger ?? createLogger({ service: 'bus' })).child({ adapter: 'redis' });
    this.deadLetters = new RedisDeadLetterStore(() => this.requireRedis(), this.keys);
    this.testHooks = {
      dropConnections: () => this.killConnections(),
      crash: async () => {
        for (const consumer of this.consumers) consumer.abandon();
        this.state = 'closed';
        for (const channel of this.replyChannels) void channel.close();
        this.redis?.disconnect();
      },
    };
  }

  /**
   * A new connection of this adapter; `blocking` ones never time a command out. Without `resend`
   * a command whose reply was lost with the connection fails instead of being sent again.
   */
  private connection(blocking: boolean, resend = true): Redis {
    const redis = new Redis(this.url, {
      connectionName: this.connectionName,
      maxRetriesPerRequest: blocking ? null : 20,
      autoResendUnfulfilledCommands: resend,
      enableAutoPipelining: !blocking,
      retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    });
    redis.on('error', (error: unknown) => this.logger.debug({ err: error }, 'redis connection error'));
    return redis;
  }

  async connect(): Promise<void> {
    if (this.state !== 'new') throw new BusClosedError('The redis bus adapter was already connected');
    this.state = 'open';
    this.redis = withScripts(this.connection(false));
    const redis = this.redis;
    await wrapRedis('connect', this.url.replace(/\/\/[^@]*@/, '//***@'), () => redis.ping()).catch(
      async (error: unknown) => {
        await this.close();
        throw error;
      },
    );
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const channel of this.replyChannels) await channel.close();
    await this.redis?.quit().catch(() => this.redis?.disconnect());
  }

  async publish(messages: readonly TransportMessage[]): Promise<void> {
    const redis = this.requireRedis();
    const trim =
      this.trimArgs[0] === 'MINID' ? ['MINID', '~', Date.now() - Number(this.trimArgs[2])] : this.trimArgs;
    // One connection keeps the order; auto-pipelining sends them in one write.
    const appends = messages.map((m) => {
      const key = this.keys.topic(m.topic);
      const fields = ['e', JSON.stringify(m.envelope), 'p', JSON.stringify(m.payload ?? null)];
      return wrapRedis('publish', key, () => redis.call('XADD', key, ...trim, '*', ...fields));
    });
    await (appends.length === 1 ? appends[0] : Promise.all(appends));
  }

  async declareGroup(topic: string, group: string): Promise<void> {
    const redis = this.requireRedis();
    // `$`: the group gets what is published from now on. Its retry stream starts from `0`.
    for (const [key, start] of [
      [this.keys.topic(topic), '$'],
      [this.keys.retry(topic, group), '0'],
    ] as const) {
      await wrapRedis('declare group', key, () =>
        redis.call('XGROUP', 'CREATE', key, group, start, 'MKSTREAM').catch((error: unknown) => {
          if (!String(error).includes('BUSYGROUP')) throw error;
        }),
      );
    }
  }

  async consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer> {
    const redis = this.requireRedis();
    await this.declareGroup(spec.topic, spec.group);
    const ctx: ConsumerContext = {
      redis,
      // An ordered consumer reads under its lease on this connection: a read resent after a
      // reconnect would skip the entries of the lost reply, so it fails and the consumer reads
      // its pending entries back instead.
      reader: this.connection(true, !spec.ordered),
      keys: this.keys,
      logger: this.logger.child({ topic: spec.topic, group: spec.group }),
      name: `${this.instanceId}.${newId()}`,
      visibilityTimeoutMs: this.visibilityTimeoutMs,
      pollIntervalMs: this.pollIntervalMs,
      declare: () => this.declareGroup(spec.topic, spec.group),
    };
    const consumer = spec.ordered
      ? new OrderedRedisConsumer(ctx, spec, handler, {
          leaseTtlMs: this.leaseTtlMs,
          standbyRetryMs: this.standbyRetryMs,
        })
      : new RedisConsumer(ctx, spec, handler);
    consumer.start();
    this.consumers.add(consumer);
    return {
      close: async () => {
        this.consumers.delete(consumer);
        await consumer.close();
      },
    };
  }

  async openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel> {
    this.requireRedis();
    const address = `${this.instanceId}.${newId()}`;
    const channel: RedisReplyChannel = new RedisReplyChannel(
      address,
      this.keys.reply(address),
      this.connection(true),
      onReply,
      this.logger,
      this.pollIntervalMs,
      () => this.replyChannels.delete(channel),
    );
    this.replyChannels.add(channel);
    return channel;
  }

  async sendReply(address: string, message: TransportMessage): Promise<void> {
    const redis = this.requireRedis();
    const key = this.keys.reply(address);
    const body = JSON.stringify({ envelope: message.envelope, payload: message.payload ?? null });
    await wrapRedis('reply', key, () => redis.multi().rpush(key, body).pexpire(key, this.replyTtlMs).exec());
  }

  /** Kills this adapter's connections from another client, as a network cut would. */
  private async killConnections(): Promise<void> {
    const admin = new Redis(this.url, { connectionName: 'flotilla-bus-admin', maxRetriesPerRequest: 1 });
    try {
      const list = String(await admin.call('CLIENT', 'LIST'));
      for (const line of list.split('\n')) {
        const id = /(?:^| )id=(\d+)/.exec(line)?.[1];
        if (id !== undefined && line.includes(` name=${this.connectionName} `)) {
          await admin.call('CLIENT', 'KILL', 'ID', id);
        }
      }
    } finally {
      admin.disconnect();
    }
  }

  private requireRedis(): ScriptedRedis {
    if (this.state !== 'open' || this.redis === undefined) {
      throw new BusClosedError(
        `The redis bus adapter is ${this.state === 'new' ? 'not connected' : 'closed'}`,
      );
    }
    return this.redis;
  }
}

/** Creates a Redis Streams bus adapter (connected by `createBus`). */
export function createRedisAdapter(options: RedisAdapterOptions = {}): RedisBusAdapter {
  return new RedisBusAdapter(options);
}

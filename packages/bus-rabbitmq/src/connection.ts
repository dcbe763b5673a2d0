import type { Socket } from 'node:net';
import { BusClosedError } from '@flotilla/bus';
import { type Logger, sleep, UnavailableError } from '@flotilla/core';
import amqp, { type Channel, type ChannelModel, type ConfirmChannel, type Options } from 'amqplib';

/** Something that must be set up again on every new connection (a consumer, a reply queue). */
export interface Resumable {
  resume(model: ChannelModel): Promise<void>;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5000;

/** Wraps an amqplib error with what was being done, keeping the driver error as `cause`. */
export function brokerError(what: string, error: unknown): UnavailableError {
  if (error instanceof BusClosedError || error instanceof UnavailableError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new UnavailableError(`RabbitMQ ${what} failed: ${message}`, { cause: error, data: { what } });
}

/**
 * One AMQP connection that comes back: on an unexpected close it reconnects with doubling
 * delays (100 ms up to 5 s) and resumes every registered `Resumable` (consumers re-declare their
 * queues and consume again). Publishing goes through one confirm channel, re-opened as needed.
 */
export class AmqpConnection {
  private model: ChannelModel | undefined;
  private confirm: Promise<ConfirmChannel> | undefined;
  private connecting: Promise<ChannelModel> | undefined;
  private readonly resumables = new Set<Resumable>();
  private readonly exchanges = new Set<string>();
  private state: 'open' | 'closed' = 'open';
  private connectedOnce = false;

  constructor(
    private readonly url: string,
    private readonly connectionName: string,
    private readonly logger: Logger,
  ) {}

  /** The current connection, waiting for a reconnect in progress. */
  async current(): Promise<ChannelModel> {
    if (this.state === 'closed') throw new BusClosedError('The rabbitmq bus adapter is closed');
    if (this.model !== undefined) return this.model;
    this.connecting ??= this.reconnect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  /** Registers `r` to be resumed after each reconnect (the caller sets it up the first time). */
  track(r: Resumable): () => void {
    this.resumables.add(r);
    return () => this.resumables.delete(r);
  }

  /**
   * Runs `fn` on a fresh channel closed afterwards; a channel error (404, 406) closes only it.
   * Retries on a lost connection within `budgetMs`.
   */
  async withChannel<T>(what: string, fn: (channel: Channel) => Promise<T>, budgetMs = 15_000): Promise<T> {
    return this.retrying(what, budgetMs, async () => {
      const channel = await (await this.current()).createChannel();
      channel.on('error', () => {}); // the failing operation rejects with the same error
      try {
        return await fn(channel);
      } finally {
        await channel.close().catch(() => {});
      }
    });
  }

  /** Publishes to `exchange` (declared as a durable fanout when `declare`) and waits for the confirm. */
  async publish(
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish,
    declare = false,
  ): Promise<void> {
    return this.publishAll([{ exchange, routingKey, content, options, declare }]);
  }

  /** Publishes in order on the confirm channel; resolves once the broker confirmed every message. */
  async publishAll(
    items: readonly {
      exchange: string;
      routingKey: string;
      content: Buffer;
      options: Options.Publish;
      declare?: boolean;
    }[],
    budgetMs = 15_000,
  ): Promise<void> {
    await this.retrying('publish', budgetMs, async () => {
      const channel = await this.confirmChannel();
      for (const item of items) {
        if (item.declare && !this.exchanges.has(item.exchange)) {
          await channel.assertExchange(item.exchange, 'fanout', { durable: true });
          this.exchanges.add(item.exchange);
        }
      }
      await Promise.all(
        items.map(
          (item) =>
            new Promise<void>((resolve, reject) => {
              channel.publish(item.exchange, item.routingKey, item.content, item.options, (err) =>
                err ? reject(err) : resolve(),
              );
            }),
        ),
      );
    });
  }

  /** Cuts the socket as a network failure would; the connection comes back by itself. */
  drop(): void {
    const stream = (this.model?.connection as unknown as { stream?: Socket } | undefined)?.stream;
    // With an error: amqplib notices a socket's 'error' or 'end', not a bare destroy.
    const error = Object.assign(new Error('connection dropped (test hook)'), { code: 'ECONNRESET' });
    stream?.destroy(error);
  }

  /** Cuts the socket and never reconnects (a killed process). */
  kill(): void {
    this.state = 'closed';
    this.drop();
    this.model = undefined;
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    const model = this.model;
    this.model = undefined;
    await model?.close().catch(() => {});
  }

  private confirmChannel(): Promise<ConfirmChannel> {
    if (this.confirm === undefined) {
      const opening = this.current().then(async (model) => {
        const channel = await model.createConfirmChannel();
        channel.on('error', (error) => this.logger.debug({ err: error }, 'publish channel error'));
        channel.on('close', () => {
          if (this.confirm === opening) this.confirm = undefined;
          this.exchanges.clear(); // a 404 closed it, or the connection went: declare again
        });
        return channel;
      });
      opening.catch(() => {
        if (this.confirm === opening) this.confirm = undefined;
      });
      this.confirm = opening;
    }
    return this.confirm;
  }

  private async retrying<T>(what: string, budgetMs: number, fn: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn();
      } catch (error) {
        if (this.state === 'closed') throw new BusClosedError('The rabbitmq bus adapter is closed');
        if (!isConnectionLoss(error) || Date.now() - started > budgetMs) throw brokerError(what, error);
        this.logger.debug({ err: error, attempt }, `${what} failed on a lost connection; retrying`);
        await sleep(Math.min(1000, 25 * 2 ** attempt));
      }
    }
  }

  private async reconnect(): Promise<ChannelModel> {
    for (let attempt = 0; ; attempt++) {
      if (this.state === 'closed') throw new BusClosedError('The rabbitmq bus adapter is closed');
      try {
        // noDelay: without it Nagle can hold a small frame (an ack, a publish) until the peer's delayed ACK.
        const model = await amqp.connect(this.url, {
          noDelay: true,
          clientProperties: { connection_name: this.connectionName },
        });
        if (this.isClosed()) {
          await model.close().catch(() => {});
          throw new BusClosedError('The rabbitmq bus adapter is closed');
        }
        model.on('error', (error: Error) => this.logger.debug({ err: error }, 'connection error'));
        model.on('close', () => this.lost(model));
        this.model = model;
        this.connectedOnce = true;
        if (attempt > 0 || this.resumables.size > 0) this.logger.info('reconnected to RabbitMQ');
        // Not awaited: a resume waits for `current()`, which this very call is resolving.
        for (const r of this.resumables) {
          r.resume(model).catch((error: unknown) => this.logger.warn({ err: error }, 'resume failed'));
        }
        return model;
      } catch (error) {
        if (error instanceof BusClosedError) throw error;
        // The first connection fails fast: a wrong URL or a broker that is down is reported.
        if (!this.connectedOnce && attempt >= 2) throw brokerError('connect', error);
        const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** attempt);
        this.logger.warn({ err: error, delay }, 'connecting to RabbitMQ failed; retrying');
        await sleep(delay);
      }
    }
  }

  private isClosed(): boolean {
    return this.state === 'closed';
  }

  private lost(model: ChannelModel): void {
    if (this.model !== model) return;
    this.model = undefined;
    this.confirm = undefined;
    if (this.state === 'closed') return;
    this.logger.warn('lost the RabbitMQ connection; reconnecting');
    void this.current().catch((error: unknown) => this.logger.error({ err: error }, 'reconnect failed'));
  }
}

/** True for errors after which the same operation may succeed on a new connection. */
export function isConnectionLoss(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (code === 320 || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNREFUSED') return true;
  // A channel closed by the server for a reason of its own (403, 404, 405, 406) stays closed.
  if (/by server: 4\d\d/.test(error.message)) return false;
  return /closed|ended|ECONNRESET|EPIPE|socket|Connection|Channel ended/i.test(error.message);
}

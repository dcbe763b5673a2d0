import { BusClosedError, type ReplyChannel, type TransportMessage } from '@flotilla/bus';
import type { Logger } from '@flotilla/core';
import type { Channel } from 'amqplib';
import type { AmqpConnection, Resumable } from './connection.js';
import { decode } from './wire.js';

const RETRY_MS = 250;

/**
 * This instance's reply address: an exclusive, auto-deleted queue named by the address,
 * consumed without acks. It lives as long as the connection; after a reconnect it is declared
 * again under the same name, and replies sent while it was gone are lost (the requester times out).
 */
export class RabbitReplyChannel implements ReplyChannel, Resumable {
  private channel: Channel | undefined;
  private closed = false;
  private resuming: Promise<void> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly address: string,
    private readonly connection: AmqpConnection,
    private readonly onReply: (message: TransportMessage) => void,
    private readonly logger: Logger,
    private readonly onClose: () => void,
  ) {}

  resume(): Promise<void> {
    this.resuming = this.resuming
      .then(() => this.open())
      .catch((error: unknown) => {
        if (error instanceof BusClosedError) return; // the adapter closed or crashed
        // The old connection's exclusive queue may not be gone yet (405 RESOURCE_LOCKED).
        this.logger.debug({ err: error }, 'opening the reply queue failed; trying again');
        this.retryLater();
      });
    return this.resuming;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    const channel = this.channel;
    this.channel = undefined;
    if (channel !== undefined) {
      await channel.deleteQueue(this.address).catch(() => {});
      await channel.close().catch(() => {});
    }
    this.onClose();
  }

  private retryLater(): void {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.resume(), RETRY_MS);
    this.timer.unref();
  }

  private async open(): Promise<void> {
    if (this.closed || this.channel !== undefined) return;
    const channel = await (await this.connection.current()).createChannel();
    this.channel = channel;
    channel.on('error', (error: Error) => this.logger.debug({ err: error }, 'reply channel error'));
    channel.on('close', () => {
      if (this.channel !== channel) return;
      this.channel = undefined;
      this.retryLater();
    });
    await channel.assertQueue(this.address, { exclusive: true, autoDelete: true, durable: false });
    await channel.consume(
      this.address,
      (msg) => {
        if (msg !== null) this.onReply(decode(msg, this.address).message);
      },
      { noAck: true },
    );
  }
}

import type { ReplyChannel, TransportMessage } from '@flotilla/bus';
import type { Envelope, Logger } from '@flotilla/core';
import type { Redis } from 'ioredis';

/**
 * This instance's reply address: a list (`<prefix>reply:<address>`) popped with BLPOP on a
 * connection of its own. Replies are pushed with a TTL on the list, so replies for an instance
 * that is gone expire.
 */
export class RedisReplyChannel implements ReplyChannel {
  private closed = false;
  private readonly loop: Promise<void>;

  constructor(
    readonly address: string,
    private readonly key: string,
    private readonly reader: Redis,
    private readonly onReply: (message: TransportMessage) => void,
    private readonly logger: Logger,
    private readonly pollIntervalMs: number,
    private readonly onClose: () => void,
  ) {
    this.loop = this.run();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // A reply popped by the read cut short here is lost; nobody awaits replies after close.
    this.reader.disconnect();
    await this.loop;
    this.onClose();
  }

  private async run(): Promise<void> {
    const timeoutSeconds = Math.max(0.1, this.pollIntervalMs / 1000);
    while (!this.closed) {
      try {
        const popped = await this.reader.blpop(this.key, timeoutSeconds);
        if (popped === null) continue;
        const { envelope, payload } = JSON.parse(popped[1]) as { envelope: Envelope; payload: unknown };
        this.onReply({ topic: this.address, envelope, payload });
      } catch (error) {
        if (this.closed) return;
        this.logger.warn({ err: error }, 'taking replies failed; trying again after the poll interval');
        await new Promise((resolve) => setTimeout(resolve, this.pollIntervalMs).unref());
      }
    }
  }
}

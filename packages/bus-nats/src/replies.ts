import type { ReplyChannel, TransportMessage } from '@flotilla/bus';
import type { Envelope, Logger } from '@flotilla/core';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';

/**
 * This instance's reply address: a core NATS subscription (no stream), resubscribed by the
 * client after a reconnect. A reply sent while nobody listens is dropped by the server.
 */
export class NatsReplyChannel implements ReplyChannel {
  private readonly subscription: Subscription;

  constructor(
    readonly address: string,
    nc: NatsConnection,
    onReply: (message: TransportMessage) => void,
    logger: Logger,
    private readonly onClose: () => void,
  ) {
    this.subscription = nc.subscribe(address, {
      callback: (error, msg) => {
        if (error !== null) {
          logger.warn({ err: error }, 'the reply subscription failed');
          return;
        }
        try {
          const body = msg.json<{ envelope: Envelope; payload: unknown }>();
          onReply({ topic: address, envelope: body.envelope, payload: body.payload });
        } catch (parseError) {
          logger.warn({ err: parseError, address }, 'dropping a reply that is not JSON');
        }
      },
    });
  }

  async close(): Promise<void> {
    this.subscription.unsubscribe();
    this.onClose();
  }
}

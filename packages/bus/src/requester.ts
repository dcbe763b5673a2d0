import {
  type Clock,
  type Logger,
  restoreError,
  type SerializedError,
  TimeoutError,
  type TimerHandle,
  ValidationError,
} from '@flotilla/core';
import type { BusAdapter, ReplyChannel, TransportMessage } from './adapter.js';
import { createEnvelope, type PublishOptions } from './envelope.js';
import { BusClosedError, UnsupportedCapabilityError } from './errors.js';
import type { ReplyOf, RequestDefinition, RequestOf } from './message.js';

/** `envelope.type` of a reply that carries a serialized error instead of a result. */
export const ERROR_REPLY_TYPE = 'flotilla.error';

/** Options of `bus.request`. */
export interface RequestOptions extends PublishOptions {
  /** Absolute deadline in Unix milliseconds; wins over `timeoutMs`. */
  deadline?: number;
  /** Milliseconds to wait for the reply; default 10 s. */
  timeoutMs?: number;
}

interface Pending {
  readonly definition: RequestDefinition;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
  readonly timer: TimerHandle;
}

/** The requesting side of request/reply: one reply address per bus, replies matched by `causationId`. */
export class Requester {
  private channel: Promise<ReplyChannel> | undefined;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly adapter: BusAdapter,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {}

  async request<D extends RequestDefinition>(
    target: string,
    definition: D,
    payload: RequestOf<D>,
    options: RequestOptions,
  ): Promise<ReplyOf<D>> {
    if (!this.adapter.capabilities.requestReply) {
      throw new UnsupportedCapabilityError(
        `The ${this.adapter.name} bus adapter does not support request/reply`,
      );
    }
    const deadline = options.deadline ?? this.clock.now() + (options.timeoutMs ?? 10_000);
    definition.requestValidator.assert(payload);
    const { deadline: _d, timeoutMs: _t, ...publishOptions } = options;
    const channel = await this.replyChannel();
    const envelope = createEnvelope(
      definition.type,
      { ...publishOptions, replyTo: channel.address, deadline },
      this.clock,
    );
    const remaining = deadline - this.clock.now();
    if (remaining <= 0) throw this.timeout(target, definition, envelope.messageId, deadline);
    const reply = new Promise<unknown>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(envelope.messageId);
        reject(this.timeout(target, definition, envelope.messageId, deadline));
      }, remaining);
      // Registered before publishing: the reply may arrive before `publish` resolves.
      this.pending.set(envelope.messageId, { definition, resolve, reject, timer });
    });
    try {
      await this.adapter.publish([{ topic: target, envelope, payload }]);
    } catch (error) {
      this.settle(envelope.messageId);
      throw error;
    }
    return (await reply) as ReplyOf<D>;
  }

  /** Rejects every pending request and closes the reply address. */
  async close(): Promise<void> {
    for (const [id, pending] of this.pending) {
      this.settle(id);
      pending.reject(new BusClosedError('The bus was closed before the reply arrived'));
    }
    const channel = await this.channel?.catch(() => undefined);
    await channel?.close();
  }

  private replyChannel(): Promise<ReplyChannel> {
    if (this.channel === undefined) {
      this.channel = this.adapter.openReplyChannel((message) => this.onReply(message));
      this.channel.catch(() => {
        this.channel = undefined;
      });
    }
    return this.channel;
  }

  private onReply(message: TransportMessage): void {
    const requestId = message.envelope?.causationId;
    const pending = requestId === undefined ? undefined : this.pending.get(requestId);
    if (requestId === undefined || pending === undefined) {
      this.logger.debug({ requestId }, 'reply to no pending request (late or duplicate); discarded');
      return;
    }
    this.settle(requestId);
    const { type } = message.envelope;
    if (type === ERROR_REPLY_TYPE) {
      pending.reject(restoreError(message.payload as SerializedError));
    } else if (type !== pending.definition.replyType) {
      pending.reject(
        new ValidationError(`Reply of type "${type}" to a ${pending.definition.type} request`, {
          data: {
            errors: [{ field: '/envelope/type', message: `expected ${pending.definition.replyType}` }],
          },
        }),
      );
    } else {
      try {
        pending.resolve(pending.definition.replyValidator.assert(message.payload));
      } catch (error) {
        pending.reject(error);
      }
    }
  }

  private settle(requestId: string): void {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return;
    this.clock.clearTimeout(pending.timer);
    this.pending.delete(requestId);
  }

  private timeout(target: string, definition: RequestDefinition, messageId: string, deadline: number) {
    return new TimeoutError(`No reply to ${definition.type} from ${target} before the deadline`, {
      data: { target, type: definition.type, messageId, deadline },
    });
  }
}

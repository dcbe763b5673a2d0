import { type Clock, newId } from '@flotilla/core';
import type {
  AdapterCapabilities,
  AdapterTestHooks,
  BusAdapter,
  Consumer,
  ConsumeSpec,
  DeliveryHandler,
  ReplyChannel,
  TransportMessage,
} from '../adapter.js';
import { BusClosedError } from '../errors.js';
import { MemoryBroker } from './broker.js';
import { MemoryDeadLetterStore } from './dead-letters.js';
import { MemoryConsumer, type MemoryQueue } from './queue.js';

/** Options of `createMemoryAdapter`. */
export interface MemoryAdapterOptions {
  /** Shared by the adapters that should see each other's messages (one per "broker"); default a new one. */
  broker?: MemoryBroker;
  /** Clock of a new broker (ignored when `broker` is given). */
  clock?: Clock;
}

/** An in-process adapter for unit tests: every semantic of the bus, no durability. */
export class MemoryBusAdapter implements BusAdapter {
  readonly name = 'memory';
  readonly capabilities: AdapterCapabilities = {
    orderedDelivery: 'per-key',
    requestReply: true,
    partitions: false,
    durable: false,
  };
  readonly broker: MemoryBroker;
  readonly deadLetters: MemoryDeadLetterStore;
  readonly testHooks: AdapterTestHooks;
  private readonly consumers = new Map<MemoryConsumer, MemoryQueue>();
  private readonly replyAddresses = new Set<string>();
  private stopped = false;

  constructor(options: MemoryAdapterOptions = {}) {
    this.broker = options.broker ?? new MemoryBroker(options.clock ? { clock: options.clock } : {});
    this.deadLetters = new MemoryDeadLetterStore(this.broker);
    this.testHooks = {
      dropConnections: async () => {
        // Like a broker whose connection dropped: unacknowledged deliveries go back to the queue.
        for (const [consumer, queue] of this.consumers) queue.release(consumer);
      },
      crash: async () => {
        this.stopped = true;
        for (const [consumer, queue] of this.consumers) queue.detach(consumer, true);
        this.consumers.clear();
        for (const address of this.replyAddresses) this.broker.replyChannels.delete(address);
      },
    };
  }

  async connect(): Promise<void> {}

  async close(): Promise<void> {
    this.stopped = true;
    for (const address of this.replyAddresses) this.broker.replyChannels.delete(address);
  }

  async publish(messages: readonly TransportMessage[]): Promise<void> {
    this.assertRunning();
    for (const message of messages) this.broker.publish(message);
  }

  async declareGroup(topic: string, group: string): Promise<void> {
    this.assertRunning();
    this.broker.queue(topic, group);
  }

  async consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer> {
    this.assertRunning();
    const queue = this.broker.queue(spec.topic, spec.group);
    const consumer = new MemoryConsumer(spec.concurrency, spec.ordered, handler);
    this.consumers.set(consumer, queue);
    queue.attach(consumer);
    return {
      close: async () => {
        if (!this.consumers.delete(consumer)) return;
        queue.detach(consumer, false);
        await consumer.drained();
      },
    };
  }

  async openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel> {
    this.assertRunning();
    const address = `memory-reply.${newId()}`;
    this.replyAddresses.add(address);
    this.broker.replyChannels.set(address, onReply);
    return {
      address,
      close: async () => {
        this.replyAddresses.delete(address);
        this.broker.replyChannels.delete(address);
      },
    };
  }

  async sendReply(address: string, message: TransportMessage): Promise<void> {
    this.assertRunning();
    const deliver = this.broker.replyChannels.get(address);
    if (deliver === undefined) return;
    const wire = JSON.parse(JSON.stringify(message)) as TransportMessage;
    queueMicrotask(() => deliver(wire));
  }

  private assertRunning(): void {
    if (this.stopped) throw new BusClosedError('The memory bus adapter is closed');
  }
}

/** Creates an in-memory adapter (pass a shared `broker` to connect several "services"). */
export function createMemoryAdapter(options: MemoryAdapterOptions = {}): MemoryBusAdapter {
  return new MemoryBusAdapter(options);
}

/**
 * The contract between the bus and a broker. The bus owns everything that is the same for
 * every broker (typed messages, validation, envelopes, retry policy and backoff, the dead-letter
 * decision, request/reply correlation); an adapter owns storage and transport: durable
 * acceptance, routing a copy to every subscribed group, competing delivery within a group,
 * redelivery of what was not acknowledged, delayed retries, per-key order, the dead-letter
 * store and reply addresses.
 *
 * Shaped for log brokers too (Kafka): a group's consumption may be backed by partitions and
 * offsets (`capabilities.partitions`, `Delivery.position`), per-key order may come from hashing
 * the key to a partition, and an adapter whose acknowledgement is a cumulative offset commits
 * only the contiguous prefix of acknowledged offsets; delayed retries there are copies written to
 * a per-group retry topic, acknowledged in the original partition once the copy is stored.
 */
import type { Envelope, SerializedError } from '@flotilla/core';
import type { DeadLetterReason, DeadLetterStore } from './dead-letter.js';

/** What an adapter can do; the bus and the conformance suite read these instead of guessing. */
export interface AdapterCapabilities {
  /**
   * `per-key`: with `ordered: true`, messages of one key in one group are handled one at a time,
   * in publish order, retries included. `none`: `ordered` is refused.
   */
  readonly orderedDelivery: 'per-key' | 'none';
  /** Reply addresses (`openReplyChannel`/`sendReply`) are available. */
  readonly requestReply: boolean;
  /**
   * Topics are split into partitions (Kafka): order and consumer parallelism are per partition,
   * and deliveries carry `position.partition`/`position.offset`.
   */
  readonly partitions: boolean;
  /** Messages survive a broker restart once `publish` resolved. */
  readonly durable: boolean;
}

/** A message as it crosses the adapter boundary: JSON-serializable throughout. */
export interface TransportMessage {
  readonly topic: string;
  readonly envelope: Envelope;
  readonly payload: unknown;
}

/** Where a broker keeps a delivered message. `offset` is a string so 64-bit offsets stay exact. */
export interface DeliveryPosition {
  readonly partition?: number;
  readonly offset: string;
}

/** A failed attempt that will be retried. */
export interface RetryRequest {
  /** Redeliver no sooner than this many milliseconds from now. */
  readonly delayMs: number;
  readonly error: SerializedError;
  /** Unix milliseconds of the failure. */
  readonly failedAt: number;
}

/** A message given up on: it goes to the dead-letter store with everything needed to replay it. */
export interface DeadLetterRequest {
  readonly reason: DeadLetterReason;
  readonly error: SerializedError;
  /** Deliveries made, this one included. */
  readonly attempts: number;
  readonly firstFailureAt: number;
  readonly lastFailureAt: number;
}

/**
 * One delivery of one message to one consumer. Exactly one of `ack`, `retry`, `deadLetter`
 * settles it; until then the adapter keeps the message from the group's other consumers, and
 * redelivers it if this consumer disappears (crash, lost connection, expired lease).
 */
export interface Delivery {
  /** The message; `envelope.attempt` is this delivery's number, counted by the broker. */
  readonly message: TransportMessage;
  readonly group: string;
  /** When an earlier attempt failed first (Unix ms), as recorded by `retry`; undefined if none did. */
  readonly firstFailureAt: number | undefined;
  readonly position: DeliveryPosition | undefined;
  /** Removes the message from the group's queue; resolves once the broker has it. */
  ack(): Promise<void>;
  /** Makes the message available to the group again after `delayMs`, with `attempt + 1`. */
  retry(request: RetryRequest): Promise<void>;
  /** Moves the message to the dead-letter store, atomically with removing it from the queue. */
  deadLetter(request: DeadLetterRequest): Promise<void>;
}

/** Handles one delivery; must settle it. The bus's handler never rejects. */
export type DeliveryHandler = (delivery: Delivery) => Promise<void>;

/** What `consume` is asked for. */
export interface ConsumeSpec {
  readonly topic: string;
  readonly group: string;
  /** At most this many deliveries of this consumer are unsettled at once. */
  readonly concurrency: number;
  /** Per-key FIFO within the group (requires `orderedDelivery: 'per-key'`). */
  readonly ordered: boolean;
}

/** A running consumer. */
export interface Consumer {
  /** Stops taking messages and waits for the unsettled deliveries to settle. */
  close(): Promise<void>;
}

/** Where the replies to this instance's requests arrive. */
export interface ReplyChannel {
  /** Opaque address, carried as `envelope.replyTo`. */
  readonly address: string;
  close(): Promise<void>;
}

/** Fault injection for the conformance suite; an adapter offers what it can. */
export interface AdapterTestHooks {
  /** Cuts the adapter's broker connections as a network failure would; the adapter must recover. */
  dropConnections?(): Promise<void>;
  /**
   * Stops the adapter as a killed process would: no more acks or deliveries, nothing cleaned
   * up; what it held is redelivered by the broker's own rule (requeue, lease expiry).
   */
  crash?(): Promise<void>;
}

/** A broker behind the bus. One adapter instance serves one bus (one service instance). */
export interface BusAdapter {
  /** Short name for logs and errors, e.g. `postgres`. */
  readonly name: string;
  readonly capabilities: AdapterCapabilities;
  /** Connects (and prepares broker-side structures); called once by `createBus`. */
  connect(): Promise<void>;
  /** Closes connections; consumers must have been closed first. */
  close(): Promise<void>;
  /**
   * Durably accepts the messages, in order, and routes a copy to every group subscribed to each
   * message's topic. Resolves only after the broker confirmed all of them; on rejection some may
   * have been accepted (the caller retries; consumers deduplicate by `messageId`).
   */
  publish(messages: readonly TransportMessage[]): Promise<void>;
  /** Makes `group` a durable subscriber of `topic`: messages published from now on are kept for it. */
  declareGroup(topic: string, group: string): Promise<void>;
  /** Starts competing delivery of `group`'s messages of `topic` to `handler` (declaring the group). */
  consume(spec: ConsumeSpec, handler: DeliveryHandler): Promise<Consumer>;
  /** Opens this instance's reply address (only when `capabilities.requestReply`). */
  openReplyChannel(onReply: (message: TransportMessage) => void): Promise<ReplyChannel>;
  /** Sends a reply to an address; a reply to an address nobody listens on any more is discarded. */
  sendReply(address: string, message: TransportMessage): Promise<void>;
  /** Browse, replay and purge of dead letters. */
  readonly deadLetters: DeadLetterStore;
  readonly testHooks?: AdapterTestHooks;
}

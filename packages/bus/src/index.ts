export type {
  AdapterCapabilities,
  AdapterTestHooks,
  BusAdapter,
  Consumer,
  ConsumeSpec,
  DeadLetterRequest,
  Delivery,
  DeliveryHandler,
  DeliveryPosition,
  ReplyChannel,
  RetryRequest,
  TransportMessage,
} from './adapter.js';
export {
  ADAPTER_PACKAGES,
  type AdapterFromUrlOptions,
  type AdapterPackage,
  adapterFromUrl,
  schemeOf,
} from './adapter-url.js';
export { Bus, type BusOptions, createBus, type RespondOptions, type Subscription } from './bus.js';
export { type AdapterOpener, createBusCommand } from './cli/bus-command.js';
export {
  assertSelective,
  type DeadLetter,
  type DeadLetterFilter,
  type DeadLetterReason,
  type DeadLetterStore,
} from './dead-letter.js';
export { causedBy, createEnvelope, envelopeValidator, type PublishOptions } from './envelope.js';
export { BusClosedError, UnsupportedCapabilityError } from './errors.js';
export { createInbox, Inbox, type InboxOptions, type InboxResult } from './inbox/inbox.js';
export { createMemoryAdapter, type MemoryAdapterOptions, MemoryBusAdapter } from './memory/adapter.js';
export { MemoryBroker } from './memory/broker.js';
export {
  type Definitions,
  defineMessage,
  defineRequest,
  type IncomingMessage,
  type IncomingOf,
  type IncomingRequestOf,
  type MessageDefinition,
  type PayloadOf,
  type ReplyOf,
  type RequestDefinition,
  type RequestOf,
} from './message.js';
export { BusMetrics, type BusMetricsOptions, type HandledOutcome } from './metrics.js';
export { BUS_MIGRATIONS_NAMESPACE, migrateOutboxInbox } from './migrations.js';
export { assertName } from './names.js';
export type { SubscribeDefaults, SubscribeOptions } from './options.js';
export { createOutbox, OUTBOX_CHANNEL, Outbox, type OutboxOptions, type Queryable } from './outbox/outbox.js';
export { OutboxRelay, type OutboxRelayOptions, startOutboxRelay } from './outbox/relay.js';
export { deletePublished, relayBatch } from './outbox/relay-batch.js';
export { ERROR_REPLY_TYPE, type RequestOptions } from './requester.js';

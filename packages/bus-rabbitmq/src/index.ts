export { createRabbitmqAdapter, type RabbitmqAdapterOptions, RabbitmqBusAdapter } from './adapter.js';
export { isConnectionLoss } from './connection.js';
export type { QueueType } from './topology.js';

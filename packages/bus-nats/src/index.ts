export { createNatsAdapter, type NatsAdapterOptions, NatsBusAdapter } from './adapter.js';

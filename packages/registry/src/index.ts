export {
  InstanceNotFoundError,
  NotRegisteredError,
  StoreUnavailableError,
  UnsupportedByStoreError,
} from './errors.js';
export { DEFAULT_EVICTION, type EvictionOptions, evictionBudget, expiredInstances } from './eviction.js';
export { HealthChecker } from './health-checks.js';
export {
  parseEurekaRegistration,
  reconcileHashCode,
  serviceFromApp,
  toEurekaApplications,
  toEurekaInstance,
} from './http/eureka-format.js';
export { createRegistryServer, type RegistryServerOptions, SELF_PRESERVATION_HEADER } from './http/server.js';
export type { WatchHub } from './http/watch-sse.js';
export { Maintenance, type PassResult } from './maintenance.js';
export { createRegistryMetrics, type RegistryMetrics } from './metrics.js';
export {
  CHANGE_TYPES,
  type Change,
  type ChangeType,
  DEFAULT_HEALTH_CHECK,
  DEFAULT_LEASE,
  EUREKA_DEFAULT_LEASE,
  type EurekaFields,
  effectiveStatus,
  type HealthCheckSettings,
  INSTANCE_STATUSES,
  type Instance,
  type InstanceFilter,
  type InstanceStatus,
  type LeaseSettings,
  leaseExpiresAt,
  matchesFilter,
  type ServiceSummary,
} from './model.js';
export {
  type RegistrationInput,
  Registry,
  type RegistryEvent,
  type RegistryHooks,
  type RegistryOptions,
} from './registry.js';
export {
  type MetadataPatch,
  MetadataPatchSchema,
  type RegistrationBody,
  RegistrationBodySchema,
  StatusBodySchema,
} from './schemas.js';
export {
  DEFAULT_SELF_PRESERVATION,
  expectedRenewals,
  RenewalMeter,
  SelfPreservation,
  type SelfPreservationOptions,
  type SelfPreservationStatus,
} from './self-preservation.js';
export { type RunningRegistry, type StartRegistryOptions, startRegistry } from './start.js';
export { MemoryStore, type MemoryStoreOptions } from './stores/memory-store.js';
export type {
  RegistryStore,
  StoreCapabilities,
  StoreEvent,
  StoreListener,
  StoreSnapshot,
} from './stores/store.js';
export { type StoreFromUrlOptions, storeFromUrl } from './stores/store-url.js';

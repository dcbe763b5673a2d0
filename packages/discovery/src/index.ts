export {
  Balancer,
  type BalancerOptions,
  type BalancerPick,
  type CallOptions,
  type InstanceSource,
  type StrategyName,
} from './balancer.js';
export { InstanceCache } from './cache.js';
export { DiscoveryClient, type DiscoveryClientOptions, type DiscoveryEvents } from './client.js';
export { NoInstanceAvailableError, RegistryRequestError } from './errors.js';
export type {
  ChangeReason,
  Instance,
  InstanceFilter,
  InstanceStatus,
  Lease,
  RegistrationInput,
  ServiceChange,
} from './model.js';
export {
  OUTLIER_EJECTION_DEFAULTS,
  OutlierDetector,
  type OutlierEjectionOptions,
} from './outlier-ejection.js';
export { Registration, type RegistrationOptions, renewalDelay } from './registration.js';
export {
  ConsistentHash,
  type ConsistentHashOptions,
  consistentHash,
  hash32,
} from './strategies/consistent-hash.js';
export { LeastOutstanding, leastOutstanding } from './strategies/least-outstanding.js';
export { P2cEwma, type P2cEwmaOptions, p2cEwma } from './strategies/p2c-ewma.js';
export { RandomStrategy, random } from './strategies/random.js';
export { RoundRobin, roundRobin } from './strategies/round-robin.js';
export type { CallOutcome, PickOptions, Strategy, StrategyFactory } from './strategies/strategy.js';
export { ZonePreference, type ZonePreferenceOptions, zonePreference } from './strategies/zone-preference.js';
export { Watch, type WatchHandlers, type WatchOptions } from './watch.js';

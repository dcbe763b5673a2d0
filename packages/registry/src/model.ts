import type { InstanceStatus } from '@flotilla/core';

export type { InstanceStatus } from '@flotilla/core';

/** Every status an instance can have, in Eureka's order. */
export const INSTANCE_STATUSES: readonly InstanceStatus[] = [
  'UP',
  'DOWN',
  'STARTING',
  'OUT_OF_SERVICE',
  'UNKNOWN',
];

/** How often an instance promises to renew, and how long the registry keeps it without a renewal. */
export interface LeaseSettings {
  renewalIntervalMs: number;
  durationMs: number;
}

/** Flotilla's lease defaults: renew every 10 s, expire after 30 s (Eureka: 30 s and 90 s). */
export const DEFAULT_LEASE: LeaseSettings = { renewalIntervalMs: 10_000, durationMs: 30_000 };

/** Eureka's own lease defaults, used for instances registered through `/eureka` without `leaseInfo`. */
export const EUREKA_DEFAULT_LEASE: LeaseSettings = { renewalIntervalMs: 30_000, durationMs: 90_000 };

/** Active health checking of one instance by the registry. */
export interface HealthCheckSettings {
  /** Time between probes. */
  intervalMs: number;
  /** A probe slower than this fails. */
  timeoutMs: number;
  /** Consecutive failures that mark the instance DOWN. */
  unhealthyThreshold: number;
  /** Consecutive successes that bring a DOWN instance back UP. */
  healthyThreshold: number;
}

export const DEFAULT_HEALTH_CHECK: HealthCheckSettings = {
  intervalMs: 10_000,
  timeoutMs: 2_000,
  unhealthyThreshold: 3,
  healthyThreshold: 2,
};

/** Fields only Eureka clients send, kept so an instance registered through `/eureka` reads back unchanged. */
export interface EurekaFields {
  /** The app name as the client sent it (Eureka answers in upper case). */
  app?: string;
  ipAddr?: string;
  vipAddress?: string;
  secureVipAddress?: string;
  homePageUrl?: string;
  statusPageUrl?: string;
  secureHealthCheckUrl?: string;
  dataCenterInfo?: Record<string, unknown>;
  countryId?: number;
  portEnabled?: boolean;
  securePortEnabled?: boolean;
  /** Client-side time of the last change of the instance info; a newer one on renew forces a re-register. */
  lastDirtyTimestamp?: number;
}

/** One registered instance of a service, as the registry keeps and serves it. */
export interface Instance {
  service: string;
  instanceId: string;
  host: string;
  port: number;
  securePort?: number;
  version?: string;
  zone?: string;
  metadata: Record<string, string>;
  healthCheckUrl?: string;
  /** Present when the registry probes `healthCheckUrl` itself. */
  healthCheck?: HealthCheckSettings;
  /** The status clients should act on: the override, else DOWN when health checks fail, else `reportedStatus`. */
  status: InstanceStatus;
  /** The status the instance itself reported. */
  reportedStatus: InstanceStatus;
  /** Set by an operator (e.g. OUT_OF_SERVICE to drain); wins over everything else. */
  statusOverride?: InstanceStatus;
  /** Result of the registry's active health checks, when enabled and decided. */
  health?: 'UP' | 'DOWN';
  lease: LeaseSettings;
  /** Unix milliseconds. */
  registeredAt: number;
  /** Unix milliseconds; renewals do not change the revision. */
  lastRenewedAt: number;
  /** Unix milliseconds of the last revisioned change. */
  updatedAt: number;
  /** Registry revision of the last change of this instance. */
  revision: number;
  /** Eureka-only fields, for instances registered through `/eureka`. */
  eureka?: EurekaFields;
}

/** Kinds of revisioned change; renewals are not changes. */
export type ChangeType = 'registered' | 'updated' | 'deregistered' | 'evicted';

export const CHANGE_TYPES: readonly ChangeType[] = ['registered', 'updated', 'deregistered', 'evicted'];

/** One change of the registry. `instance` is the state after the change (the last state for removals). */
export interface Change {
  revision: number;
  type: ChangeType;
  /** Unix milliseconds. */
  at: number;
  instance: Instance;
}

/** Whether a change removes the instance. */
export function isRemoval(type: ChangeType): boolean {
  return type === 'deregistered' || type === 'evicted';
}

/** The status clients act on, from the override, the health check result and the reported status. */
export function effectiveStatus(
  instance: Pick<Instance, 'reportedStatus' | 'statusOverride' | 'health'>,
): InstanceStatus {
  if (instance.statusOverride !== undefined) return instance.statusOverride;
  if (instance.health === 'DOWN') return 'DOWN';
  return instance.reportedStatus;
}

/** Map key of an instance: service and instance id. */
export function instanceKey(service: string, instanceId: string): string {
  return `${service}\u0000${instanceId}`;
}

/** When the lease of `instance` runs out, in Unix milliseconds. */
export function leaseExpiresAt(instance: Pick<Instance, 'lastRenewedAt' | 'lease'>): number {
  return instance.lastRenewedAt + instance.lease.durationMs;
}

/** A deep copy, so callers can never mutate what the registry holds. */
export function cloneInstance(instance: Instance): Instance {
  return structuredClone(instance);
}

/** Per-service counts for `GET /v1/services`. */
export interface ServiceSummary {
  name: string;
  instances: number;
  /** Instances per effective status; statuses with no instance are omitted. */
  statuses: Partial<Record<InstanceStatus, number>>;
}

/** Filter of `GET /v1/services/{name}/instances`. */
export interface InstanceFilter {
  status?: readonly InstanceStatus[];
  version?: readonly string[];
  zone?: readonly string[];
  /** Every entry must match exactly. */
  metadata?: Readonly<Record<string, string>>;
}

/** Whether `instance` passes `filter`. */
export function matchesFilter(instance: Instance, filter: InstanceFilter): boolean {
  if (filter.status && filter.status.length > 0 && !filter.status.includes(instance.status)) return false;
  if (filter.version && filter.version.length > 0) {
    if (instance.version === undefined || !filter.version.includes(instance.version)) return false;
  }
  if (filter.zone && filter.zone.length > 0) {
    if (instance.zone === undefined || !filter.zone.includes(instance.zone)) return false;
  }
  if (filter.metadata) {
    for (const [key, value] of Object.entries(filter.metadata)) {
      if (instance.metadata[key] !== value) return false;
    }
  }
  return true;
}

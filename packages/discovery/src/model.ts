import type { InstanceStatus } from '@flotilla/core';

export type { InstanceStatus } from '@flotilla/core';

/** How often an instance renews and how long the registry keeps it without a renewal. */
export interface Lease {
  readonly renewalIntervalMs: number;
  readonly durationMs: number;
}

/**
 * One instance as the registry serves it (`/v1` contract). Declared here rather than imported
 * from `@flotilla/registry` so a service never loads the server package.
 */
export interface Instance {
  readonly service: string;
  readonly instanceId: string;
  readonly host: string;
  readonly port: number;
  readonly securePort?: number;
  readonly version?: string;
  readonly zone?: string;
  readonly metadata: Readonly<Record<string, string>>;
  readonly healthCheckUrl?: string;
  /** Effective status: what clients act on. */
  readonly status: InstanceStatus;
  readonly reportedStatus?: InstanceStatus;
  readonly statusOverride?: InstanceStatus;
  readonly health?: 'UP' | 'DOWN';
  readonly lease: Lease;
  readonly registeredAt: number;
  readonly lastRenewedAt: number;
  readonly updatedAt: number;
  readonly revision: number;
}

/** What a process registers about itself. */
export interface RegistrationInput {
  service: string;
  /** Default `<service>-<newId()>`. */
  instanceId?: string;
  host: string;
  port: number;
  securePort?: number;
  version?: string;
  zone?: string;
  metadata?: Record<string, string>;
  healthCheckUrl?: string;
  healthCheck?: {
    intervalMs?: number;
    timeoutMs?: number;
    unhealthyThreshold?: number;
    healthyThreshold?: number;
  };
  /** Default `UP`. */
  status?: InstanceStatus;
  /** Default the registry's (renew every 10 s, expire after 30 s). */
  lease?: Lease;
}

/** Why a service's local copy changed. */
export type ChangeReason = 'snapshot' | 'registered' | 'updated' | 'deregistered' | 'evicted';

/** One change of one service's local copy, emitted as `change`. */
export interface ServiceChange {
  readonly service: string;
  readonly reason: ChangeReason;
  readonly added: readonly Instance[];
  readonly updated: readonly Instance[];
  readonly removed: readonly Instance[];
  /** Every instance of the service now, whatever its status, ordered by id. */
  readonly instances: readonly Instance[];
  /** Registry revision the copy is at after this change. */
  readonly revision: number;
}

/** Narrows `instances(service, filter)`; all given fields must match. */
export interface InstanceFilter {
  /** Statuses to include; default `['UP']`. `'any'` includes every status. */
  status?: readonly InstanceStatus[] | 'any';
  zone?: string;
  version?: string;
  /** Exact matches on metadata entries. */
  metadata?: Readonly<Record<string, string>>;
}

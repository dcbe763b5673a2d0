import {
  type EurekaFields,
  effectiveStatus,
  type HealthCheckSettings,
  type Instance,
  type InstanceStatus,
  type LeaseSettings,
} from './model.js';

/** What a registration says about an instance; everything else the registry fills in. */
export interface RegistrationInput {
  service: string;
  instanceId: string;
  host: string;
  port: number;
  securePort?: number;
  version?: string;
  zone?: string;
  metadata?: Record<string, string>;
  healthCheckUrl?: string;
  healthCheck?: HealthCheckSettings;
  /** Default UP. */
  status?: InstanceStatus;
  /** Default the registry's lease (10 s / 30 s). */
  lease?: LeaseSettings;
  eureka?: EurekaFields;
}

/**
 * The instance a registration makes, given what the registry had. A re-registration keeps the
 * registration time, and the operator's override and the health verdict outlive it (as in
 * Eureka): an instance restarting does not undo a drain.
 */
export function buildInstance(
  input: RegistrationInput,
  existing: Instance | undefined,
  now: number,
  defaultLease: LeaseSettings,
): Instance {
  const next: Instance = {
    service: input.service,
    instanceId: input.instanceId,
    host: input.host,
    port: input.port,
    metadata: { ...input.metadata },
    status: 'UP',
    reportedStatus: input.status ?? 'UP',
    lease: { ...(input.lease ?? defaultLease) },
    registeredAt: existing?.registeredAt ?? now,
    lastRenewedAt: now,
    updatedAt: now,
    revision: 0,
  };
  if (input.securePort !== undefined) next.securePort = input.securePort;
  if (input.version !== undefined) next.version = input.version;
  if (input.zone !== undefined) next.zone = input.zone;
  if (input.healthCheckUrl !== undefined) next.healthCheckUrl = input.healthCheckUrl;
  if (input.healthCheck !== undefined) next.healthCheck = { ...input.healthCheck };
  if (input.eureka !== undefined) next.eureka = { ...input.eureka };
  if (existing?.statusOverride !== undefined) next.statusOverride = existing.statusOverride;
  if (existing?.health !== undefined && input.healthCheck !== undefined) next.health = existing.health;
  next.status = effectiveStatus(next);
  return next;
}

/** Whether a re-registration carries nothing new (only times differ). */
export function sameRegistration(a: Instance, b: Instance): boolean {
  const strip = ({ registeredAt, lastRenewedAt, updatedAt, revision, eureka, ...rest }: Instance) => {
    const { lastDirtyTimestamp, ...eurekaRest } = eureka ?? {};
    return stableJson([rest, eurekaRest]);
  };
  return strip(a) === strip(b);
}

/** JSON with object keys sorted, so values read back from a store (jsonb reorders keys) compare equal. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

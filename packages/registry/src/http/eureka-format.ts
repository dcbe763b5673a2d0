import { compileValidator, type InstanceStatus } from '@flotilla/core';
import { type Static, Type } from '@sinclair/typebox';
import { EUREKA_DEFAULT_LEASE, INSTANCE_STATUSES, type Instance } from '../model.js';
import type { RegistrationInput } from '../registry.js';
import { InstanceStatusSchema, ServiceNameSchema } from '../schemas.js';
import { fieldError } from './problems.js';

/**
 * Eureka's JSON, as Netflix's server writes it and its clients (eureka-client, Spring Cloud
 * Netflix, eureka-js-client) read and send it: `{"instance": {...}}`, ports as
 * `{"$": 8080, "@enabled": "true"}`, `dataCenterInfo` with a Java `@class`, times in milliseconds.
 */

const Digits = Type.String({ pattern: '^\\d{1,5}$' });
const Timestamp = Type.Union([Type.Integer({ minimum: 0 }), Type.String({ pattern: '^\\d{1,15}$' })]);
const PortSchema = Type.Union([
  Type.Integer({ minimum: 0, maximum: 65535 }),
  Digits,
  Type.Object({
    $: Type.Union([Type.Integer({ minimum: 0, maximum: 65535 }), Digits]),
    '@enabled': Type.Optional(Type.Union([Type.Boolean(), Type.String({ maxLength: 5 })])),
  }),
]);
const Text = (max: number) => Type.Optional(Type.String({ maxLength: max }));

/** What Eureka clients send to register (lenient: unknown fields are ignored). */
export const EurekaInstanceSchema = Type.Object({
  instanceId: Type.Optional(Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s/]+$' })),
  hostName: Type.String({ minLength: 1, maxLength: 253 }),
  app: Type.Optional(Type.String({ minLength: 1, maxLength: 63 })),
  ipAddr: Text(64),
  status: Type.Optional(InstanceStatusSchema),
  port: Type.Optional(PortSchema),
  securePort: Type.Optional(PortSchema),
  countryId: Type.Optional(Type.Integer()),
  vipAddress: Text(1_000),
  secureVipAddress: Text(1_000),
  homePageUrl: Text(2_048),
  statusPageUrl: Text(2_048),
  healthCheckUrl: Text(2_048),
  secureHealthCheckUrl: Text(2_048),
  dataCenterInfo: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  leaseInfo: Type.Optional(
    Type.Object({
      renewalIntervalInSecs: Type.Optional(Type.Integer({ minimum: 1, maximum: 3_600 })),
      durationInSecs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    }),
  ),
  metadata: Type.Optional(
    Type.Record(
      Type.String({ maxLength: 128 }),
      Type.Union([Type.String({ maxLength: 2_048 }), Type.Number(), Type.Boolean()]),
      {
        maxProperties: 128,
      },
    ),
  ),
  lastDirtyTimestamp: Type.Optional(Timestamp),
});
export type EurekaInstance = Static<typeof EurekaInstanceSchema>;

const registrationValidator = compileValidator(Type.Object({ instance: EurekaInstanceSchema }), '/body');
const serviceName = compileValidator(ServiceNameSchema);

const DEFAULT_DATA_CENTER = {
  '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo',
  name: 'MyOwn',
};
const EMPTY_METADATA = { '@class': 'java.util.Collections$EmptyMap' };

/**
 * Eureka app names (`MY_SERVICE`, `orders.api`) as Flotilla service names: lower case, `_` and
 * `.` as `-`. Eureka answers with the name the client registered, in upper case.
 */
export function serviceFromApp(app: string): string {
  return app.toLowerCase().replace(/[_.]/g, '-');
}

function portValue(port: EurekaInstance['port']): { value?: number; enabled?: boolean } {
  if (port === undefined) return {};
  if (typeof port === 'number') return { value: port };
  if (typeof port === 'string') return { value: Number(port) };
  const enabled = port['@enabled'];
  return {
    value: Number(port.$),
    enabled: enabled === undefined ? undefined : enabled === true || String(enabled).toLowerCase() === 'true',
  };
}

/** A Eureka registration body as a Flotilla registration; 400 naming the field when it is unusable. */
export function parseEurekaRegistration(body: unknown, pathApp: string): RegistrationInput {
  const { instance } = registrationValidator.assert(body);
  const app = instance.app ?? pathApp;
  const service = serviceFromApp(app);
  if (!serviceName.check(service)) {
    throw fieldError(
      '/body/instance/app',
      `must be a DNS-label-like name (letters, digits, -, _, .), got "${app}"`,
    );
  }
  const port = portValue(instance.port);
  const securePort = portValue(instance.securePort);
  for (const [field, p] of [
    ['port', port],
    ['securePort', securePort],
  ] as const) {
    if (p.value !== undefined && (p.value < 0 || p.value > 65535)) {
      throw fieldError(`/body/instance/${field}`, `must be between 0 and 65535, got ${p.value}`);
    }
  }
  if (!port.value && !(securePort.enabled && securePort.value)) {
    throw fieldError(
      '/body/instance/port',
      'an enabled port (or secure port) between 1 and 65535 is required',
    );
  }
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(instance.metadata ?? {})) {
    if (key !== '@class') metadata[key] = String(value);
  }
  const dataCenter = instance.dataCenterInfo as { metadata?: Record<string, unknown> } | undefined;
  const zone = metadata.zone ?? stringOrUndefined(dataCenter?.metadata?.['availability-zone']);
  const lease = {
    renewalIntervalMs:
      (instance.leaseInfo?.renewalIntervalInSecs ?? EUREKA_DEFAULT_LEASE.renewalIntervalMs / 1000) * 1000,
    durationMs: (instance.leaseInfo?.durationInSecs ?? EUREKA_DEFAULT_LEASE.durationMs / 1000) * 1000,
  };
  if (lease.durationMs <= lease.renewalIntervalMs) {
    throw fieldError('/body/instance/leaseInfo/durationInSecs', 'must be longer than renewalIntervalInSecs');
  }
  const out: RegistrationInput = {
    service,
    // Eureka's rule: without an instanceId, the instance is known by its host name.
    instanceId: instance.instanceId ?? instance.hostName,
    host: instance.hostName,
    port: port.value || securePort.value || 0,
    metadata,
    status: instance.status ?? 'UP',
    lease,
    eureka: {
      app,
      portEnabled: port.enabled ?? port.value !== undefined,
      securePortEnabled: securePort.enabled ?? false,
      countryId: instance.countryId ?? 1,
      dataCenterInfo: instance.dataCenterInfo ?? DEFAULT_DATA_CENTER,
      lastDirtyTimestamp:
        instance.lastDirtyTimestamp === undefined ? Date.now() : Number(instance.lastDirtyTimestamp),
    },
  };
  const eureka = out.eureka ?? {};
  if (instance.ipAddr) eureka.ipAddr = instance.ipAddr;
  if (instance.vipAddress) eureka.vipAddress = instance.vipAddress;
  if (instance.secureVipAddress) eureka.secureVipAddress = instance.secureVipAddress;
  if (instance.homePageUrl) eureka.homePageUrl = instance.homePageUrl;
  if (instance.statusPageUrl) eureka.statusPageUrl = instance.statusPageUrl;
  if (instance.secureHealthCheckUrl) eureka.secureHealthCheckUrl = instance.secureHealthCheckUrl;
  if (securePort.value) out.securePort = securePort.value;
  if (instance.healthCheckUrl) out.healthCheckUrl = instance.healthCheckUrl;
  if (zone) out.zone = zone;
  if (metadata.version) out.version = metadata.version;
  return out;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The app name Eureka clients see for an instance. */
export function eurekaAppName(instance: Instance): string {
  return (instance.eureka?.app ?? instance.service).toUpperCase();
}

/** One instance in Eureka's JSON. */
export function toEurekaInstance(instance: Instance, actionType?: 'ADDED' | 'MODIFIED' | 'DELETED') {
  const e = instance.eureka ?? {};
  const metadata: Record<string, string> = { ...instance.metadata };
  if (instance.zone !== undefined && metadata.zone === undefined) metadata.zone = instance.zone;
  if (instance.version !== undefined && metadata.version === undefined) metadata.version = instance.version;
  const out: Record<string, unknown> = {
    instanceId: instance.instanceId,
    hostName: instance.host,
    app: eurekaAppName(instance),
    ipAddr: e.ipAddr ?? instance.host,
    status: instance.status,
    overriddenStatus: instance.statusOverride ?? 'UNKNOWN',
    port: { $: instance.port, '@enabled': String(e.portEnabled ?? true) },
    securePort: {
      $: instance.securePort ?? 443,
      '@enabled': String(e.securePortEnabled ?? instance.securePort !== undefined),
    },
    countryId: e.countryId ?? 1,
    dataCenterInfo: e.dataCenterInfo ?? DEFAULT_DATA_CENTER,
    leaseInfo: {
      renewalIntervalInSecs: Math.max(1, Math.round(instance.lease.renewalIntervalMs / 1000)),
      durationInSecs: Math.max(1, Math.round(instance.lease.durationMs / 1000)),
      registrationTimestamp: instance.registeredAt,
      lastRenewalTimestamp: instance.lastRenewedAt,
      evictionTimestamp: 0,
      serviceUpTimestamp: instance.registeredAt,
    },
    metadata: Object.keys(metadata).length > 0 ? metadata : EMPTY_METADATA,
    vipAddress: e.vipAddress ?? instance.service,
    secureVipAddress: e.secureVipAddress ?? instance.service,
    isCoordinatingDiscoveryServer: 'false',
    lastUpdatedTimestamp: String(instance.updatedAt),
    lastDirtyTimestamp: String(e.lastDirtyTimestamp ?? instance.updatedAt),
  };
  if (e.homePageUrl) out.homePageUrl = e.homePageUrl;
  if (e.statusPageUrl) out.statusPageUrl = e.statusPageUrl;
  if (instance.healthCheckUrl) out.healthCheckUrl = instance.healthCheckUrl;
  if (e.secureHealthCheckUrl) out.secureHealthCheckUrl = e.secureHealthCheckUrl;
  if (actionType) out.actionType = actionType;
  return out;
}

/**
 * Eureka's reconcile hash: `<STATUS>_<count>_` for each status in name order, over every
 * instance. Java clients compare it after applying a delta and fetch everything on a mismatch.
 */
export function reconcileHashCode(instances: Iterable<Pick<Instance, 'status'>>): string {
  const counts = new Map<InstanceStatus, number>();
  for (const i of instances) counts.set(i.status, (counts.get(i.status) ?? 0) + 1);
  return [...INSTANCE_STATUSES]
    .sort()
    .filter((s) => counts.has(s))
    .map((s) => `${s}_${counts.get(s)}_`)
    .join('');
}

/** `{"applications": {...}}` for these instances, grouped by app, instances with an optional action. */
export function toEurekaApplications(
  entries: Iterable<{ instance: Instance; actionType?: 'ADDED' | 'MODIFIED' | 'DELETED' }>,
  versionsDelta: number,
  appsHashcode: string,
) {
  const apps = new Map<string, ReturnType<typeof toEurekaInstance>[]>();
  for (const { instance, actionType } of entries) {
    const name = eurekaAppName(instance);
    let list = apps.get(name);
    if (!list) {
      list = [];
      apps.set(name, list);
    }
    list.push(toEurekaInstance(instance, actionType));
  }
  const application = [...apps.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, instance]) => ({ name, instance }));
  return {
    applications: { versions__delta: String(versionsDelta), apps__hashcode: appsHashcode, application },
  };
}

/** The status named by a `?value=` parameter, or a 400 naming it. */
export function statusParam(value: unknown, field: string): InstanceStatus {
  if (typeof value !== 'string' || !INSTANCE_STATUSES.includes(value as InstanceStatus)) {
    throw fieldError(field, `must be one of ${INSTANCE_STATUSES.join(', ')}, got "${String(value)}"`);
  }
  return value as InstanceStatus;
}

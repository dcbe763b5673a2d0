import { InstanceRegistrationSchema, InstanceStatusSchema, ServiceNameSchema } from '@flotilla/core';
import { type Static, Type } from '@sinclair/typebox';

/** JSON Schemas of the native API's request bodies (validated with core's `compileValidator`). */

const MetadataSchema = Type.Record(
  Type.String({ minLength: 1, maxLength: 128 }),
  Type.String({ maxLength: 2_048 }),
  { maxProperties: 128 },
);

/** What the registry probes and how often; absent fields take the defaults. */
export const HealthCheckSchema = Type.Object({
  intervalMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 3_600_000 })),
  timeoutMs: Type.Optional(Type.Integer({ minimum: 10, maximum: 60_000 })),
  unhealthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
  healthyThreshold: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
});

const { properties: base } = InstanceRegistrationSchema;

/**
 * Body of `POST /v1/services/{service}/instances`: core's `InstanceRegistrationSchema`, with
 * `service` optional (the path names it), size limits, and the registry's `healthCheck`.
 */
export const RegistrationBodySchema = Type.Object({
  ...base,
  service: Type.Optional(ServiceNameSchema),
  instanceId: Type.String({ minLength: 1, maxLength: 200, pattern: '^[^\\s/]+$' }),
  host: Type.String({ minLength: 1, maxLength: 253 }),
  version: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  zone: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
  metadata: Type.Optional(MetadataSchema),
  healthCheckUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2_048, pattern: '^https?://' })),
  lease: Type.Optional(
    Type.Object({
      renewalIntervalMs: Type.Integer({ minimum: 100, maximum: 3_600_000 }),
      durationMs: Type.Integer({ minimum: 200, maximum: 86_400_000 }),
    }),
  ),
  healthCheck: Type.Optional(HealthCheckSchema),
});
export type RegistrationBody = Static<typeof RegistrationBodySchema>;

/** Body of `PUT …/status` and `PUT …/status-override`. */
export const StatusBodySchema = Type.Object({ status: InstanceStatusSchema });

/** Body of `PATCH …/metadata`: a JSON merge patch; `null` removes a key. */
export const MetadataPatchSchema = Type.Record(
  Type.String({ minLength: 1, maxLength: 128 }),
  Type.Union([Type.String({ maxLength: 2_048 }), Type.Null()]),
  { maxProperties: 128 },
);
export type MetadataPatch = Static<typeof MetadataPatchSchema>;

export { InstanceStatusSchema, ServiceNameSchema };

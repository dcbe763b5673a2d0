import { type Static, Type } from '@sinclair/typebox';

/** JSON Schemas of the values that cross process boundaries, shared by every package. */

export const FieldErrorSchema = Type.Object({
  field: Type.String({ description: 'JSON pointer to the invalid field, e.g. /body/name' }),
  message: Type.String(),
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer({ minimum: 100, maximum: 599 }),
    code: Type.String(),
    detail: Type.Optional(Type.String()),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(Type.Array(FieldErrorSchema)),
  },
  { additionalProperties: true, $id: 'Problem' },
);

export const SerializedErrorSchema = Type.Recursive(
  (Self) =>
    Type.Object({
      name: Type.String(),
      code: Type.String(),
      message: Type.String(),
      retryable: Type.Boolean(),
      status: Type.Optional(Type.Integer()),
      data: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      cause: Type.Optional(Self),
    }),
  { $id: 'SerializedError' },
);

/** Lifecycle status of a service instance (Eureka's set). */
export const InstanceStatusSchema = Type.Union([
  Type.Literal('UP'),
  Type.Literal('DOWN'),
  Type.Literal('STARTING'),
  Type.Literal('OUT_OF_SERVICE'),
  Type.Literal('UNKNOWN'),
]);
export type InstanceStatus = Static<typeof InstanceStatusSchema>;

/** Service and instance names: DNS-label-like, so they work in URLs, hosts and metric labels. */
export const ServiceNameSchema = Type.String({ pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' });

/** What an instance tells the registry about itself. */
export const InstanceRegistrationSchema = Type.Object({
  service: ServiceNameSchema,
  instanceId: Type.String({ minLength: 1, maxLength: 200 }),
  host: Type.String({ minLength: 1 }),
  port: Type.Integer({ minimum: 1, maximum: 65535 }),
  securePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  version: Type.Optional(Type.String()),
  zone: Type.Optional(Type.String()),
  metadata: Type.Optional(Type.Record(Type.String(), Type.String())),
  healthCheckUrl: Type.Optional(Type.String()),
  status: Type.Optional(InstanceStatusSchema),
  lease: Type.Optional(
    Type.Object({
      renewalIntervalMs: Type.Integer({ minimum: 100 }),
      durationMs: Type.Integer({ minimum: 100 }),
    }),
  ),
});
export type InstanceRegistration = Static<typeof InstanceRegistrationSchema>;

/**
 * Message envelope shared by every bus adapter. `messageId` is stable across retries,
 * redeliveries and replays; `attempt` is the delivery number (1 on the first delivery).
 */
export const EnvelopeSchema = Type.Object({
  messageId: Type.String(),
  type: Type.String(),
  key: Type.Optional(Type.String()),
  correlationId: Type.Optional(Type.String()),
  causationId: Type.Optional(Type.String()),
  traceparent: Type.Optional(Type.String()),
  timestamp: Type.Integer({ description: 'Unix milliseconds when first published' }),
  attempt: Type.Integer({ minimum: 1 }),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  replyTo: Type.Optional(Type.String({ description: 'Reply address of a request (request/reply only)' })),
  deadline: Type.Optional(
    Type.Integer({
      description: 'Absolute deadline of a request in Unix milliseconds (x-flotilla-deadline)',
    }),
  ),
});
export type Envelope = Static<typeof EnvelopeSchema>;

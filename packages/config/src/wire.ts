import { type Static, Type } from '@sinclair/typebox';

/** What crosses the wire between the config server and its clients (native API). */

/** Where one value came from: a source name plus its line (files) or revision (PostgreSQL). */
export const ValueOriginSchema = Type.Object({
  source: Type.String(),
  line: Type.Optional(Type.Integer()),
  revision: Type.Optional(Type.Integer()),
});
export type ValueOrigin = Static<typeof ValueOriginSchema>;

/** One layer that took part in a resolution. */
export const ResolvedLayerSchema = Type.Object({
  /** Source name, e.g. `file:config/orders-prod.yaml` or `postgres:orders/prod`. */
  name: Type.String(),
  kind: Type.String({ description: 'directory | postgres' }),
  /** Layer name, e.g. `application`, `application-prod`, `orders`, `orders-prod`, `orders@^2`. */
  layer: Type.String(),
});
export type ResolvedLayer = Static<typeof ResolvedLayerSchema>;

/** A layer served from its last good version because its current content is broken. */
export const SourceWarningSchema = Type.Object({
  source: Type.String(),
  message: Type.String(),
  line: Type.Optional(Type.Integer()),
  column: Type.Optional(Type.Integer()),
});
export type SourceWarning = Static<typeof SourceWarningSchema>;

/** `GET /v1/config/{service}/{env}` and each `config` event of the watch stream. */
export const ResolvedConfigSchema = Type.Object({
  service: Type.String(),
  env: Type.String(),
  profiles: Type.Array(Type.String()),
  version: Type.Union([Type.String(), Type.Null()]),
  /** Content hash of this resolution; equal revisions mean equal config. */
  revision: Type.String(),
  /** Whether `{cipher}` values were decrypted for this caller (authenticated) or left as is. */
  decrypted: Type.Boolean(),
  config: Type.Record(Type.String(), Type.Unknown()),
  /** Dotted path of every leaf → where its value came from. */
  origins: Type.Record(Type.String(), ValueOriginSchema),
  /** Dotted paths whose value is stored encrypted. */
  secrets: Type.Array(Type.String()),
  /** Layers found, general → specific (later wins). */
  sources: Type.Array(ResolvedLayerSchema),
  warnings: Type.Array(SourceWarningSchema),
});
export type ResolvedConfig = Static<typeof ResolvedConfigSchema>;

/** Media type of the watch stream. */
export const EVENT_STREAM = 'text/event-stream';

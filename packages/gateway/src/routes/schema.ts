import { type Static, Type } from '@sinclair/typebox';
import { RouteAuthSchema } from '../auth/authenticator.js';
import { AggregateSchema, BranchSchema, ChainSchema } from '../composite/schema.js';
import { HeaderName, HeaderValue } from '../proxy/header-schema.js';
import { CacheSchema } from '../traffic/cache.js';
import { CorsSchema } from '../traffic/cors.js';
import { RateLimitSchema } from '../traffic/rate-limit.js';

/**
 * The routes file, as TypeBox schemas. Shapes that need more than a schema can say (exactly one
 * action, durations, weights, module rules such as CORS `*` with credentials) are checked in
 * `compile.ts`, with errors that point at the same YAML node.
 */

const Duration = Type.Union([Type.String(), Type.Number()], {
  description: 'Go-style duration ("250ms", "2s", "1m30s") or milliseconds',
});

const StringMap = Type.Record(Type.String(), Type.String());

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE'] as const;

export const MatchSchema = Type.Object(
  {
    path: Type.String({ pattern: '^/', description: '/exact, /prefix/*, /titles/:id' }),
    methods: Type.Optional(Type.Array(Type.Union(METHODS.map((m) => Type.Literal(m))), { minItems: 1 })),
    host: Type.Optional(Type.String({ minLength: 1, description: 'exact host or *.example.com' })),
    headers: Type.Optional(StringMap),
    query: Type.Optional(StringMap),
  },
  { additionalProperties: false },
);

export const SplitLegSchema = Type.Object(
  {
    service: Type.Optional(Type.String({ minLength: 1 })),
    url: Type.Optional(Type.String({ minLength: 1 })),
    version: Type.Optional(Type.String({ minLength: 1 })),
    weight: Type.Number({ minimum: 0 }),
  },
  { additionalProperties: false },
);

export const TargetSchema = Type.Object(
  {
    service: Type.Optional(Type.String({ minLength: 1 })),
    url: Type.Optional(Type.String({ minLength: 1 })),
    version: Type.Optional(Type.String({ minLength: 1 })),
    strategy: Type.Optional(
      Type.Union([
        Type.Literal('round-robin'),
        Type.Literal('random'),
        Type.Literal('least-outstanding'),
        Type.Literal('p2c-ewma'),
        Type.Literal('consistent-hash'),
      ]),
    ),
    split: Type.Optional(Type.Array(SplitLegSchema, { minItems: 1 })),
  },
  { additionalProperties: false },
);

/** Header names to values the gateway writes, checked at load (see `proxy/header-schema.ts`). */
const HeaderMap = Type.Record(HeaderName, HeaderValue, { additionalProperties: false });

export const HeaderOpsSchema = Type.Object(
  {
    set: Type.Optional(HeaderMap),
    add: Type.Optional(HeaderMap),
    remove: Type.Optional(Type.Array(HeaderName)),
  },
  { additionalProperties: false },
);

export const StaticSchema = Type.Object(
  {
    status: Type.Optional(Type.Integer({ minimum: 200, maximum: 599 })),
    headers: Type.Optional(HeaderMap),
    body: Type.Optional(Type.String()),
    json: Type.Optional(Type.Unknown()),
  },
  { additionalProperties: false },
);

export const RouteSchema = Type.Object(
  {
    id: Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
    match: MatchSchema,
    target: Type.Optional(TargetSchema),
    redirect: Type.Optional(
      Type.Object(
        {
          to: Type.String({ minLength: 1 }),
          status: Type.Optional(Type.Union([301, 302, 303, 307, 308].map((s) => Type.Literal(s)))),
          keepQuery: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    static: Type.Optional(StaticSchema),
    aggregate: Type.Optional(AggregateSchema),
    chain: Type.Optional(ChainSchema),
    branch: Type.Optional(BranchSchema),
    rewrite: Type.Optional(
      Type.Object(
        {
          stripPrefix: Type.Optional(Type.String({ pattern: '^/' })),
          path: Type.Optional(Type.String({ pattern: '^/' })),
        },
        { additionalProperties: false },
      ),
    ),
    requestHeaders: Type.Optional(HeaderOpsSchema),
    responseHeaders: Type.Optional(HeaderOpsSchema),
    timeout: Type.Optional(Duration),
    retry: Type.Optional(
      Type.Object(
        { attempts: Type.Integer({ minimum: 0, maximum: 10 }), perTryTimeout: Type.Optional(Duration) },
        { additionalProperties: false },
      ),
    ),
    circuitBreaker: Type.Optional(
      Type.Object(
        {
          failureRateThreshold: Type.Optional(Type.Number()),
          slowCallRateThreshold: Type.Optional(Type.Number()),
          slowCallDuration: Type.Optional(Duration),
          slidingWindowSize: Type.Optional(Type.Integer()),
          minimumNumberOfCalls: Type.Optional(Type.Integer()),
          waitDurationInOpenState: Type.Optional(Duration),
          permittedNumberOfCallsInHalfOpenState: Type.Optional(Type.Integer()),
        },
        { additionalProperties: false },
      ),
    ),
    concurrency: Type.Optional(Type.Integer({ minimum: 1 })),
    fallback: Type.Optional(StaticSchema),
    maxBodySize: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.String()])),
    // The security and traffic modules own these shapes; see src/features/.
    auth: Type.Optional(RouteAuthSchema),
    rateLimit: Type.Optional(RateLimitSchema),
    cache: Type.Optional(CacheSchema),
    cors: Type.Optional(CorsSchema),
  },
  { additionalProperties: false },
);

export const RoutesFileSchema = Type.Object(
  { routes: Type.Array(RouteSchema) },
  { additionalProperties: false },
);

/** One route as written in `routes.yaml`. */
export type RouteDefinition = Static<typeof RouteSchema>;
/** The whole routes file. */
export type RoutesFile = Static<typeof RoutesFileSchema>;
/** A route's `target`. */
export type TargetDefinition = Static<typeof TargetSchema>;
/** A `static` or `fallback` response. */
export type StaticDefinition = Static<typeof StaticSchema>;
/** add/set/remove header operations. */
export type HeaderOpsDefinition = Static<typeof HeaderOpsSchema>;

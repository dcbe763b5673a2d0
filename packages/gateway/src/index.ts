export { type AdminContext, createAdminServer, upstreamsSnapshot } from './admin.js';
export { API_KEY_ISSUER, type ApiKeyAuthConfig, ApiKeyAuthSchema, hashApiKey } from './auth/api-keys.js';
export {
  type Authenticator,
  type AuthShared,
  createAuthenticator,
  type RouteAuthConfig,
  RouteAuthSchema,
} from './auth/authenticator.js';
export { JwksCache, type JwksCacheOptions, JwksCaches, type JwksStats } from './auth/jwks.js';
export { type JwtAuthConfig, JwtAuthSchema } from './auth/jwt.js';
export type { AuthFailure, AuthMethod, AuthOutcome, AuthSuccess, Claims } from './auth/outcome.js';
export { decodePrincipal, PRINCIPAL_HEADER } from './auth/principal.js';
export type { CompiledLeg, CompositeAction, CompositeCase, CompositePlan } from './composite/compile.js';
export type { CompositeOutcome } from './composite/run.js';
export {
  type AggregateDefinition,
  AggregateSchema,
  type BranchDefinition,
  BranchSchema,
  type ChainDefinition,
  ChainSchema,
  type LegDefinition,
  LegSchema,
  type StepDefinition,
  type WhenDefinition,
} from './composite/schema.js';
export { BadGatewayError, NoInstanceError, PayloadTooLargeError } from './errors.js';
export { DEFAULT_MAX_BODY_SIZE, Gateway, type GatewayOptions } from './gateway.js';
export { GatewayMetrics } from './metrics.js';
export {
  ConfigRoutesSource,
  FileRoutesSource,
  type RoutesSource,
  type RoutesState,
  StaticRoutesSource,
} from './reload.js';
export {
  type CompiledRoute,
  DEFAULT_TIMEOUT_MS,
  type RouteAction,
  type StaticResponse,
  type Upstream,
} from './routes/compile.js';
export { RoutesError } from './routes/errors.js';
export { loadRoutesFile, parseRoutes, routesFromValue } from './routes/load.js';
export { type RouteDefinition, RouteSchema, type RoutesFile, RoutesFileSchema } from './routes/schema.js';
export { type RouteMatch, RouteTable } from './routes/table.js';
export { type RunningGateway, type StartGatewayOptions, startGateway } from './start.js';
export {
  createDevIssuer,
  DEFAULT_AUDIENCE,
  type DevIssuer,
  type DevIssuerOptions,
  type SignRequest,
} from './token/issuer.js';
export { type CacheConfig, CacheSchema, type CacheStats, ResponseCache } from './traffic/cache.js';
export { type Cors, type CorsConfig, CorsSchema, createCors } from './traffic/cors.js';
export {
  createRateLimiter,
  type RateLimitConfig,
  type RateLimitOutcome,
  RateLimitSchema,
  type RouteRateLimiter,
} from './traffic/rate-limit.js';
export { checkCaBundle, UPSTREAM_KEEP_ALIVE_MS } from './upstreams/upstreams.js';

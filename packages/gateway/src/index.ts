export { type AdminContext, createAdminServer, upstreamsSnapshot } from './admin.js';
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
export { UPSTREAM_KEEP_ALIVE_MS } from './upstreams/upstreams.js';

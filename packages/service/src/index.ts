export {
  type CallOptions,
  type CallRecord,
  type ClientOptions,
  createClient,
  isDevelopment,
  ServiceCaller,
  type TypedClient,
} from './client/client.js';
export {
  currentRequest,
  formatTraceparent,
  parseTraceparent,
  type RequestContext,
  runWithRequest,
} from './context.js';
export {
  type AnyEndpoint,
  type Contract,
  defineContract,
  type Endpoint,
  endpoint,
  type HttpMethod,
  type InputOf,
  isIdempotent,
  type OutputOf,
  type ReceivedOf,
} from './contract.js';
export { type DatabaseOptions, resolveDatabase } from './database.js';
export { type Dependency, waitForDependencies } from './dependencies.js';
export { DependencyTimeoutError, RemoteError, ShuttingDownError } from './errors.js';
export { adapterFromEnv, type BusSettings, type EventHandlerSpec, on, type Transaction } from './events.js';
export { Secrets, secretEnvName } from './secrets.js';
export { ServiceMetrics } from './server/metrics.js';
export { openApiDocument } from './server/openapi.js';
export type { Handler, HandlerInput, Handlers } from './server/routes.js';
export {
  createService,
  type EventContext,
  type HandlerContext,
  Service,
  type ServiceDefinition,
} from './service.js';

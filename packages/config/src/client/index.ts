// The light client entry: what a service imports. It loads @flotilla/core, TypeBox and Node's
// own modules only — never fastify, pg or the server.
export {
  ConfigDecryptError,
  ConfigInvalidError,
  ConfigUnavailableError,
  ForbiddenError,
  UnauthorizedError,
} from '../errors.js';
export type { ResolvedConfig, ValueOrigin } from '../wire.js';
export { ConfigCache } from './cache.js';
export { type ConfigChange, type ConfigEvents, type ConfigRejection, LiveConfig } from './live-config.js';
export { type LoadConfigOptions, loadConfig } from './load-config.js';
export { defaultFileRoots, type PlaceholderOptions, resolvePlaceholders } from './placeholders.js';

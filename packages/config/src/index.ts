// The config server. Services import `@flotilla/config/client` instead, which never loads
// fastify, pg or anything below.
export {
  ConfigDecryptError,
  ConfigInvalidError,
  ConfigSourceError,
  ConfigUnavailableError,
  ForbiddenError,
  UnauthorizedError,
  UnsupportedOperationError,
} from './errors.js';
export { type ConfigTree, changedPaths, springFlatten } from './flatten.js';
export { APPLICATION, assertKey, assertName, parseProfiles } from './names.js';
export {
  mayDecrypt,
  type Principal,
  requireOperator,
  TokenAuth,
  type TokenEnvironment,
} from './server/auth.js';
export { ConfigServer, type ConfigServerOptions } from './server/config-server.js';
export { type ReencryptedFile, reencryptDirectory } from './server/reencrypt-files.js';
export { type Resolution, type ResolveRequest, Resolver } from './server/resolve.js';
export {
  CIPHER_PREFIX,
  cipherPaths,
  decryptTree,
  isEncrypted,
  type KeyEnvironment,
  KeyRing,
  parseKey,
  type SecretKey,
} from './server/secrets.js';
export { DirectorySource, type DirectorySourceOptions } from './server/sources/directory-source.js';
export { PostgresSource, type PostgresSourceOptions } from './server/sources/postgres-source.js';
export {
  PostgresStore,
  type RevisionInfo,
  type StoreChange,
  type StoredValue,
  type StoreScope,
} from './server/sources/postgres-store.js';
export {
  type ConfigDocument,
  type ConfigSource,
  type Scope,
  type SourceProblem,
  SourceSnapshot,
} from './server/sources/source.js';
export { SPRING_V2_JSON, type SpringEnvironment, springEnvironment } from './server/spring.js';
export {
  EVENT_STREAM,
  type ResolvedConfig,
  ResolvedConfigSchema,
  type ResolvedLayer,
  type SourceWarning,
  type ValueOrigin,
} from './wire.js';

export {
  createPostgresAdapter,
  POSTGRES_BUS_MIGRATIONS_NAMESPACE,
  type PostgresAdapterOptions,
  PostgresBusAdapter,
} from './adapter.js';
export { isTransientError } from './transient.js';

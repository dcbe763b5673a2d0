/** The PostgreSQL store, a separate entry so memory users never load pg. */
export { PostgresStore, type PostgresStoreOptions } from './stores/postgres-store.js';

export { assertDatabaseName, type DropDatabaseOptions, dropDatabase, ensureDatabase } from './database.js';
export { EmbeddedPostgres, type EmbeddedPostgresOptions } from './embedded/embedded-postgres.js';
export { DataDirLockedError, EmbeddedPostgresError, MigrationError } from './errors.js';
export { type MigrateOptions, migrate } from './migrate.js';
export { MIGRATION_FILE_NAME, type MigrationFile, readMigrationFiles } from './migration-files.js';
export { createPool, type IsolationLevel, type PoolOptions, withTransaction } from './pool.js';
export { databaseNameOf, databaseUrl, parsePostgresUrl, redactUrl } from './urls.js';
